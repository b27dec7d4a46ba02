// The per-process GEMM path (gemm_paths.hpp): bf16 runs natively exactly where oneDNN has bf16
// instructions, and the widened route is exact widening followed by the fp32 kernel — checked
// bitwise against an fp32 GEMM of the widened operands on every machine, whatever route the
// machine itself takes. The CI stage that caps oneDNN at AVX2 runs this file too, so both
// routes are exercised on every run.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "flashmoe/half.hpp"
#include "flashmoe/tensor.hpp"
#include "platform/cpu/gemm.hpp"
#include "platform/cpu/gemm_detail.hpp"
#include "platform/cpu/gemm_paths.hpp"
#include "support/tensor_compare.hpp"

namespace flashmoe::cpu {
namespace {

bool isa_has_bf16_instructions(const std::string& isa) {
  return isa == "avx512_core_bf16" || isa == "avx512_core_amx";
}

TEST(GemmPaths, Bf16IsNativeExactlyWhereTheIsaHasBf16Instructions) {
  const CpuDescription& cpu = cpu_description();
  const GemmPath& bf16 = gemm_path(ElementType::bf16);
  SCOPED_TRACE(describe(cpu) + " / " + describe(bf16));
  if (isa_has_bf16_instructions(cpu.onednn_isa))
    EXPECT_EQ(bf16.route, GemmRoute::onednn);
  else
    EXPECT_EQ(bf16.route, GemmRoute::onednn_widened);
  EXPECT_EQ(gemm_path(ElementType::f32).route, GemmRoute::onednn);
  EXPECT_EQ(gemm_path(ElementType::f64).route, GemmRoute::loop);
  EXPECT_FALSE(bf16.kernel.empty());
}

// The capped CI stage must really run the widened route: under ONEDNN_MAX_CPU_ISA=AVX2 the
// process reports the cap and widens bf16.
TEST(GemmPaths, AnAvx2CapWidensBf16) {
  const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (cap == nullptr || std::string(cap) != "AVX2")
    GTEST_SKIP() << "runs in the test stage that sets ONEDNN_MAX_CPU_ISA=AVX2";
  EXPECT_EQ(cpu_description().onednn_isa, "avx2");
  EXPECT_EQ(cpu_description().isa_cap, "ONEDNN_MAX_CPU_ISA=AVX2");
  EXPECT_EQ(gemm_path(ElementType::bf16).route, GemmRoute::onednn_widened);
  EXPECT_NE(describe(gemm_path(ElementType::bf16)).find("widened to fp32"), std::string::npos);
}

TEST(GemmPaths, DescriptionsNameRouteKernelAndReason) {
  const GemmPath& bf16 = gemm_path(ElementType::bf16);
  const std::string text = describe(bf16);
  EXPECT_TRUE(text.starts_with("bf16 GEMM: ")) << text;
  EXPECT_NE(text.find(bf16.kernel), std::string::npos) << text;
  EXPECT_NE(text.find(bf16.reason), std::string::npos) << text;
  EXPECT_NE(describe(cpu_description()).find("oneDNN "), std::string::npos);
  EXPECT_THROW(gemm_path(ElementType::f16), Error);
}

std::uint64_t mix(std::uint64_t seed, std::int64_t i) {
  std::uint64_t z = seed * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(i);
  z = (z ^ (z >> 31)) * 0x94d049bb133111ebull;
  return z ^ (z >> 29);
}

// bf16 values in [−1, 1) and the same values as f32.
void fill(HostTensor& bf16, HostTensor& f32, std::uint64_t seed) {
  for (std::int64_t i = 0; i < bf16.numel(); ++i) {
    const double v = static_cast<double>(mix(seed, i) >> 11) * 0x1.0p-52 - 1.0;
    bf16.set(i, v);
    f32.set(i, bf16.get(i));
  }
}

struct WidenCase {
  std::int64_t m, n, k;
  bool trans_a, trans_b, accumulate, bias;
  ElementType out;
  std::int64_t pad;
};

// Widened bf16 GEMM == fp32 GEMM on the widened operands, bit for bit: the route adds nothing
// but an exact conversion.
TEST(GemmPaths, WidenedBf16IsTheFp32GemmOfTheWidenedOperands) {
  const WidenCase cases[] = {{1, 1, 1, false, false, false, false, ElementType::f32, 0},
                             {33, 65, 47, false, true, false, false, ElementType::f32, 0},
                             {65, 7, 129, true, false, true, true, ElementType::f32, 3},
                             {7, 129, 65, true, true, true, false, ElementType::bf16, 5},
                             {96, 80, 200, false, true, true, true, ElementType::bf16, 0}};
  for (const WidenCase& c : cases) {
    SCOPED_TRACE("m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) +
                 " k=" + std::to_string(c.k) + " ta=" + std::to_string(c.trans_a) +
                 " tb=" + std::to_string(c.trans_b) + " out=" + std::string(to_string(c.out)));
    const std::int64_t a_rows = c.trans_a ? c.k : c.m, a_cols = c.trans_a ? c.m : c.k;
    const std::int64_t b_rows = c.trans_b ? c.n : c.k, b_cols = c.trans_b ? c.k : c.n;
    const std::int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
    HostTensor a16(ElementType::bf16, {a_rows * lda}), a32(ElementType::f32, {a_rows * lda});
    HostTensor b16(ElementType::bf16, {b_rows * ldb}), b32(ElementType::f32, {b_rows * ldb});
    HostTensor bias16(ElementType::bf16, {c.n}), bias(ElementType::f32, {c.n});
    HostTensor c_init(c.out, {c.m * ldc}), unused(ElementType::f32, {c.m * ldc});
    fill(a16, a32, 1);
    fill(b16, b32, 2);
    fill(bias16, bias, 3);
    for (std::int64_t i = 0; i < c_init.numel(); ++i) c_init.set(i, 0.25 * static_cast<double>(i % 9));

    GemmArgs g;
    g.m = c.m;
    g.n = c.n;
    g.k = c.k;
    g.a = a16.raw();
    g.a_type = ElementType::bf16;
    g.lda = lda;
    g.trans_a = c.trans_a;
    g.b = b16.raw();
    g.b_type = ElementType::bf16;
    g.ldb = ldb;
    g.trans_b = c.trans_b;
    g.c_type = c.out;
    g.ldc = ldc;
    g.accumulate = c.accumulate;
    g.bias = c.bias ? bias.raw() : nullptr;
    g.activation = Activation::gelu;

    HostTensor widened = c_init, reference = c_init;
    g.c = widened.raw();
    detail::gemm_onednn(g, GemmRoute::onednn_widened);
    GemmArgs f = g;
    f.a = a32.raw();
    f.b = b32.raw();
    f.a_type = f.b_type = ElementType::f32;
    f.c = reference.raw();
    gemm(f);
    EXPECT_TRUE(test::bitwise_equal(widened, reference));
  }
}

// Where the machine runs bf16 natively, the two routes agree to bf16 accuracy (they differ only
// in how oneDNN's kernels order their fp32 sums).
TEST(GemmPaths, NativeAndWidenedRoutesAgree) {
  if (gemm_path(ElementType::bf16).route != GemmRoute::onednn)
    GTEST_SKIP() << "no native bf16 matmul here (" << describe(gemm_path(ElementType::bf16))
                 << "); the widened route is checked by the other tests";
  const std::int64_t m = 64, n = 96, k = 256;
  HostTensor a16(ElementType::bf16, {m * k}), a32(ElementType::f32, {m * k});
  HostTensor b16(ElementType::bf16, {n * k}), b32(ElementType::f32, {n * k});
  fill(a16, a32, 4);
  fill(b16, b32, 5);
  HostTensor native(ElementType::f32, {m * n}), widened(ElementType::f32, {m * n});
  GemmArgs g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a16.raw();
  g.a_type = ElementType::bf16;
  g.lda = k;
  g.b = b16.raw();
  g.b_type = ElementType::bf16;
  g.ldb = k;
  g.trans_b = true;
  g.c_type = ElementType::f32;
  g.ldc = n;
  g.c = native.raw();
  detail::gemm_onednn(g, GemmRoute::onednn);
  g.c = widened.raw();
  detail::gemm_onednn(g, GemmRoute::onednn_widened);
  EXPECT_LT(test::relative_l2(native, widened), 1e-6);
}

}  // namespace
}  // namespace flashmoe::cpu
