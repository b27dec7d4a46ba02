// The CPU tile GEMM against a naive double-precision loop: every transpose, odd sizes, padded
// leading dimensions, accumulate, bias, every plain activation, every supported type pair;
// determinism (repeat and concurrent calls bitwise equal); refusals of unsupported arguments.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "flashmoe/error.hpp"
#include "flashmoe/tensor.hpp"
#include "math/activation.hpp"
#include "platform/cpu/gemm.hpp"
#include "support/pseudo_random.hpp"
#include "support/tensor_compare.hpp"

namespace flashmoe::cpu {
namespace {

using test::pseudo_random;

struct Case {
  std::int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false, accumulate = false, bias = false;
  std::optional<Activation> activation = std::nullopt;
  ElementType in = ElementType::f32, out = ElementType::f32;
  std::int64_t pad = 0;  // extra elements per stored row of A, B, C
};

std::string describe(const Case& c) {
  return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " ta=" + std::to_string(c.trans_a) + " tb=" + std::to_string(c.trans_b) +
         " acc=" + std::to_string(c.accumulate) + " bias=" + std::to_string(c.bias) +
         " act=" + std::string(c.activation ? to_string(*c.activation) : "none") +
         " in=" + std::string(to_string(c.in)) + " out=" + std::string(to_string(c.out)) +
         " pad=" + std::to_string(c.pad);
}

// Operands for a case, built once so that determinism tests can call gemm() repeatedly.
struct Operands {
  Case c;
  std::int64_t lda, ldb, ldc;
  // Flat buffers of the case's element types: set() rounds the drawn doubles to them, get()
  // widens the stored values exactly for the double-precision check.
  HostTensor a, b, c_init, bias;
  GemmArgs args(HostTensor& out) {
    GemmArgs g;
    g.m = c.m;
    g.n = c.n;
    g.k = c.k;
    g.a = a.raw();
    g.a_type = c.in;
    g.lda = lda;
    g.trans_a = c.trans_a;
    g.b = b.raw();
    g.b_type = c.in;
    g.ldb = ldb;
    g.trans_b = c.trans_b;
    g.c = out.raw();
    g.c_type = c.out;
    g.ldc = ldc;
    g.accumulate = c.accumulate;
    g.bias = c.bias ? bias.raw() : nullptr;
    g.activation = c.activation;
    return g;
  }
};

Operands make_operands(const Case& c, std::uint64_t seed) {
  const std::int64_t a_rows = c.trans_a ? c.k : c.m, a_cols = c.trans_a ? c.m : c.k;
  const std::int64_t b_rows = c.trans_b ? c.n : c.k, b_cols = c.trans_b ? c.k : c.n;
  const std::int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
  const ElementType acc = c.in == ElementType::f64 ? ElementType::f64 : ElementType::f32;
  Operands ops{c,
               std::max<std::int64_t>(lda, 1),
               std::max<std::int64_t>(ldb, 1),
               std::max<std::int64_t>(ldc, 1),
               HostTensor(c.in, {a_rows * std::max<std::int64_t>(lda, 1)}),
               HostTensor(c.in, {b_rows * std::max<std::int64_t>(ldb, 1)}),
               HostTensor(c.out, {c.m * std::max<std::int64_t>(ldc, 1)}),
               HostTensor(acc, {c.n})};
  for (std::int64_t i = 0; i < a_rows * ops.lda; ++i) ops.a.set(i, pseudo_random(seed, i));
  for (std::int64_t i = 0; i < b_rows * ops.ldb; ++i) ops.b.set(i, pseudo_random(seed + 1, i));
  for (std::int64_t i = 0; i < c.m * ops.ldc; ++i) ops.c_init.set(i, pseudo_random(seed + 2, i));
  for (std::int64_t i = 0; i < c.n; ++i) ops.bias.set(i, pseudo_random(seed + 3, i));
  return ops;
}

// Runs the case and compares every element with a double-precision evaluation of the same
// rounded operands. The bound: accumulation error ≈ eps_acc·Σ|a·b| (+ the other addends), then
// the output rounding ≈ eps_out·|result|; padding past n must be left untouched.
void check_case(const Case& c, std::uint64_t seed = 7) {
  SCOPED_TRACE(describe(c));
  Operands ops = make_operands(c, seed);
  HostTensor out = ops.c_init;
  gemm(ops.args(out));

  // Unit roundoff of the accumulation and of the output type; oneDNN's activations are
  // polynomial approximations good to a few fp32 ulps, hence the extra 1e-6 relative term.
  const bool f64 = c.in == ElementType::f64;
  const double eps_acc = f64 ? 0x1.0p-53 : 0x1.0p-24;
  const double eps_out = c.out == ElementType::bf16  ? 0x1.0p-8
                         : c.out == ElementType::f32 ? 0x1.0p-24
                                                     : 0x1.0p-53;
  const double eps_act = f64 ? 1e-15 : 1e-6;
  for (std::int64_t i = 0; i < c.m; ++i) {
    for (std::int64_t j = 0; j < c.n; ++j) {
      double sum = 0.0, scale = 0.0;
      for (std::int64_t p = 0; p < c.k; ++p) {
        const double av = ops.a.get(c.trans_a ? p * ops.lda + i : i * ops.lda + p);
        const double bv = ops.b.get(c.trans_b ? j * ops.ldb + p : p * ops.ldb + j);
        sum += av * bv;
        scale += std::fabs(av * bv);
      }
      if (c.accumulate) {
        sum += ops.c_init.get(i * ops.ldc + j);
        scale += std::fabs(ops.c_init.get(i * ops.ldc + j));
      }
      if (c.bias) {
        sum += ops.bias.get(j);
        scale += std::fabs(ops.bias.get(j));
      }
      // Every plain activation has |act′| ≤ 1.13, so the pre-activation error carries over.
      const double expected = c.activation ? math::activate(*c.activation, sum) : sum;
      const double tolerance = 1.2 * eps_acc * static_cast<double>(c.k + 2) * scale +
                               (eps_out + eps_act) * std::fabs(expected) + 1e-300;
      const double got = out.get(i * ops.ldc + j);
      ASSERT_NEAR(got, expected, tolerance) << "at (" << i << ", " << j << ")";
    }
    for (std::int64_t j = c.n; j < ops.ldc; ++j)
      ASSERT_EQ(out.get(i * ops.ldc + j), ops.c_init.get(i * ops.ldc + j))
          << "padding at (" << i << ", " << j << ")";
  }
}

const ElementType kInputs[] = {ElementType::f64, ElementType::f32, ElementType::bf16};

std::vector<ElementType> outputs_for(ElementType in) {
  if (in == ElementType::f64) return {ElementType::f64, ElementType::f32, ElementType::bf16};
  return {ElementType::f32, ElementType::bf16};
}

TEST(Gemm, TransposesAndOddSizesMatchDoubleLoop) {
  const std::int64_t sizes[][3] = {{1, 1, 1},    {7, 1, 65},   {1, 7, 7},
                                   {65, 7, 129}, {129, 65, 7}, {7, 129, 65}};
  for (ElementType in : kInputs)
    for (ElementType out : outputs_for(in))
      for (const auto& s : sizes)
        for (int t = 0; t < 4; ++t)
          check_case({.m = s[0],
                      .n = s[1],
                      .k = s[2],
                      .trans_a = (t & 1) != 0,
                      .trans_b = (t & 2) != 0,
                      .in = in,
                      .out = out});
}

TEST(Gemm, PaddedLeadingDimensions) {
  for (ElementType in : kInputs)
    for (int t = 0; t < 4; ++t)
      check_case({.m = 65,
                  .n = 33,
                  .k = 129,
                  .trans_a = (t & 1) != 0,
                  .trans_b = (t & 2) != 0,
                  .in = in,
                  .out = in == ElementType::f64 ? ElementType::f64 : ElementType::f32,
                  .pad = 5});
}

TEST(Gemm, EpilogueAccumulateBiasActivation) {
  const std::optional<Activation> acts[] = {std::nullopt,     Activation::relu,
                                            Activation::gelu, Activation::gelu_tanh,
                                            Activation::silu, Activation::identity};
  for (ElementType in : kInputs)
    for (ElementType out : outputs_for(in))
      for (const auto& act : acts)
        for (int flags = 0; flags < 4; ++flags)
          check_case({.m = 33,
                      .n = 65,
                      .k = 47,
                      .trans_b = true,
                      .accumulate = (flags & 1) != 0,
                      .bias = (flags & 2) != 0,
                      .activation = act,
                      .in = in,
                      .out = out,
                      .pad = 3});
}

TEST(Gemm, ZeroInnerDimensionAppliesEpilogueOnly) {
  for (ElementType in : kInputs)
    check_case({.m = 5,
                .n = 9,
                .k = 0,
                .accumulate = true,
                .bias = true,
                .activation = Activation::silu,
                .in = in,
                .out = in == ElementType::f64 ? ElementType::f64 : ElementType::f32});
}

TEST(Gemm, EmptyResultIsANoOp) {
  GemmArgs g;
  g.m = 0;
  g.n = 4;
  g.k = 3;
  g.lda = 3;
  g.ldb = 4;
  g.ldc = 4;
  EXPECT_NO_THROW(gemm(g));
}

// More distinct shapes than a thread caches primitives for (256): the cache starts over and
// every result stays right.
TEST(Gemm, ManyShapesBeyondThePrimitiveCache) {
  for (std::int64_t m = 1; m <= 270; ++m)
    check_case(
        {.m = m, .n = 5, .k = 3, .trans_b = true, .in = ElementType::bf16, .out = ElementType::f32},
        9);
}

TEST(Gemm, RepeatedCallsAreBitwiseEqual) {
  for (ElementType in : kInputs) {
    const Case c{.m = 96,
                 .n = 80,
                 .k = 200,
                 .trans_b = true,
                 .accumulate = true,
                 .bias = true,
                 .activation = Activation::gelu,
                 .in = in,
                 .out = in == ElementType::f64 ? ElementType::f64 : ElementType::bf16};
    Operands ops = make_operands(c, 3);
    HostTensor first = ops.c_init, second = ops.c_init;
    gemm(ops.args(first));
    gemm(ops.args(second));
    EXPECT_TRUE(test::bitwise_equal(first, second)) << describe(c);
  }
}

TEST(Gemm, ConcurrentCallsAreBitwiseEqualToSerial) {
  const Case c{.m = 128,
               .n = 128,
               .k = 256,
               .trans_b = true,
               .bias = true,
               .activation = Activation::silu,
               .in = ElementType::bf16,
               .out = ElementType::f32};
  Operands ops = make_operands(c, 11);
  HostTensor serial = ops.c_init;
  gemm(ops.args(serial));
  std::vector<HostTensor> results(2, ops.c_init);
  std::vector<std::thread> threads;
  for (auto& r : results)
    threads.emplace_back([&ops, &r] {
      for (int rep = 0; rep < 3; ++rep)
        gemm(ops.args(r));  // a fresh cache on this thread, then hits
    });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(test::bitwise_equal(r, serial));
}

std::int64_t process_threads() {
  std::int64_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task"))
    ++count;
  return count;
}

// Engine workers are the parallelism: a call must not start an OpenMP team (or a BLAS thread
// pool) of its own. Counted after a first call, since loading OpenBLAS starts its pool once per
// process — idle, as it is set to one thread (platform/cpu/openblas.hpp).
TEST(Gemm, RunsOnTheCallingThreadOnly) {
  const Case c{.m = 256, .n = 256, .k = 256, .in = ElementType::f32, .out = ElementType::f32};
  Operands ops = make_operands(c, 5);
  HostTensor out = ops.c_init;
  gemm(ops.args(out));
  const std::int64_t before = process_threads();
  gemm(ops.args(out));
  std::thread worker([&ops] {
    HostTensor mine = ops.c_init;
    gemm(ops.args(mine));
  });
  worker.join();
  // At most as many: a thread of an earlier test may still be leaving when `before` is counted.
  EXPECT_LE(process_threads(), before);
}

// Expects gemm() to throw a flashmoe::Error whose message names `argument`.
void expect_refusal(const GemmArgs& g, const std::string& argument) {
  try {
    gemm(g);
    ADD_FAILURE() << "no error for " << argument;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(argument), std::string::npos) << e.what();
  }
}

TEST(Gemm, RefusesUnsupportedArguments) {
  std::vector<float> a(16), b(16), c(16);
  GemmArgs ok;
  ok.m = ok.n = ok.k = 4;
  ok.a = a.data();
  ok.b = b.data();
  ok.c = c.data();
  ok.lda = ok.ldb = ok.ldc = 4;
  EXPECT_NO_THROW(gemm(ok));

  GemmArgs g = ok;
  g.a_type = ElementType::f16;
  g.b_type = ElementType::f16;
  expect_refusal(g, "a_type");
  g = ok;
  g.a_type = ElementType::i32;
  g.b_type = ElementType::i32;
  expect_refusal(g, "a_type");
  g = ok;
  g.b_type = ElementType::bf16;
  expect_refusal(g, "b_type");
  g = ok;
  g.c_type = ElementType::f16;
  expect_refusal(g, "c_type");
  g = ok;
  g.c_type = ElementType::f64;
  expect_refusal(g, "c_type");
  g = ok;
  g.activation = Activation::swiglu;
  expect_refusal(g, "activation");
  g = ok;
  g.lda = 3;
  expect_refusal(g, "lda");
  g = ok;
  g.ldb = 3;
  expect_refusal(g, "ldb");
  g = ok;
  g.ldc = 3;
  expect_refusal(g, "ldc");
  g = ok;
  g.m = -1;
  expect_refusal(g, "m, n, k");
  g = ok;
  g.c = nullptr;
  expect_refusal(g, "c is null");
  g = ok;
  g.a = nullptr;
  expect_refusal(g, "a is null");
  g = ok;
  g.b = nullptr;
  expect_refusal(g, "b is null");
}

}  // namespace
}  // namespace flashmoe::cpu
