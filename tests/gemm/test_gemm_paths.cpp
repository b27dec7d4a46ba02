// The per-process GEMM path table (gemm_paths.hpp): oneDNN where it has its brgemm kernels,
// OpenBLAS below, bf16 natively exactly where oneDNN has bf16 instructions, and each widened
// route is exact widening followed by that library's fp32 kernel — checked bitwise against an
// fp32 GEMM of the widened operands on every machine, whatever route the machine itself takes.
// The CI stage that caps oneDNN at AVX2 (and OpenBLAS at Haswell) runs this file too, and CTest
// runs it again with FLASHMOE_CPU_GEMM=openblas, so every route is exercised on every run.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/thread_start.hpp"
#include "flashmoe/half.hpp"
#include "flashmoe/tensor.hpp"
#include "platform/cpu/gemm.hpp"
#include "platform/cpu/gemm_detail.hpp"
#include "platform/cpu/gemm_paths.hpp"
#include "platform/cpu/openblas.hpp"
#include "support/tensor_compare.hpp"

namespace flashmoe::cpu {
namespace {

bool isa_has_bf16_instructions(const std::string& isa) {
  return isa == "avx512_core_bf16" || isa == "avx512_core_amx";
}

bool isa_has_brgemm(const std::string& isa) { return isa.starts_with("avx512_core"); }

std::string forced_library() {
  const char* value = std::getenv("FLASHMOE_CPU_GEMM");
  return value == nullptr ? "" : value;
}

// The library the table must have chosen for f32 and bf16 here.
GemmLibrary expected_library() {
  if (forced_library() == "openblas") return GemmLibrary::openblas;
  if (forced_library() == "onednn") return GemmLibrary::onednn;
  if (isa_has_brgemm(cpu_description().onednn_isa) || openblas() == nullptr)
    return GemmLibrary::onednn;
  return GemmLibrary::openblas;
}

TEST(GemmPaths, OneDnnWithBrgemmOpenBlasBelowOnEveryLayout) {
  const CpuDescription& cpu = cpu_description();
  const GemmLibrary library = expected_library();
  for (const GemmLayout layout : kGemmLayouts) {
    const GemmPath& f32 = gemm_path(ElementType::f32, layout);
    const GemmPath& bf16 = gemm_path(ElementType::bf16, layout);
    SCOPED_TRACE(describe(cpu) + " / " + describe(f32) + " / " + describe(bf16));
    EXPECT_EQ(f32.layout, layout);
    EXPECT_EQ(f32.route, library == GemmLibrary::openblas ? GemmRoute::openblas : GemmRoute::onednn);
    if (library == GemmLibrary::openblas)
      EXPECT_EQ(bf16.route, GemmRoute::openblas_widened);
    else if (isa_has_bf16_instructions(cpu.onednn_isa))
      EXPECT_EQ(bf16.route, GemmRoute::onednn);
    else
      EXPECT_EQ(bf16.route, GemmRoute::onednn_widened);
    EXPECT_EQ(gemm_path(ElementType::f64, layout).route, GemmRoute::loop);
    EXPECT_FALSE(bf16.kernel.empty());
  }
  EXPECT_EQ(&gemm_path(ElementType::f32), &gemm_path(ElementType::f32, GemmLayout::nt));
}

// The capped CI stage must really run the other family's routes: under ONEDNN_MAX_CPU_ISA=AVX2
// the process reports the cap and widens bf16 — through OpenBLAS, which setup.sh installs.
TEST(GemmPaths, AnAvx2CapWidensBf16ThroughOpenBlas) {
  const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (cap == nullptr || std::string(cap) != "AVX2")
    GTEST_SKIP() << "runs in the test stage that sets ONEDNN_MAX_CPU_ISA=AVX2";
  EXPECT_EQ(cpu_description().onednn_isa, "avx2");
  EXPECT_EQ(cpu_description().isa_cap, "ONEDNN_MAX_CPU_ISA=AVX2");
  std::string why_not;
  ASSERT_NE(openblas(&why_not), nullptr) << why_not;
  if (forced_library().empty()) {
    EXPECT_EQ(gemm_path(ElementType::bf16).route, GemmRoute::openblas_widened);
    EXPECT_EQ(gemm_path(ElementType::f32, GemmLayout::nn).route, GemmRoute::openblas);
  }
  EXPECT_NE(describe(ElementType::bf16).find("widened to fp32"), std::string::npos);
  if (const char* core = std::getenv("OPENBLAS_CORETYPE")) {
    EXPECT_EQ(openblas()->corename, core);
  }
}

// The library loads (setup.sh installs it), names its kernel family, and answers for f32 only.
TEST(GemmPaths, OpenBlasLoadsAndNamesItsKernels) {
  std::string why_not;
  const OpenBlas* blas = openblas(&why_not);
  ASSERT_NE(blas, nullptr) << why_not;
  EXPECT_NE(blas->config.find("OpenBLAS"), std::string::npos) << blas->config;
  EXPECT_FALSE(blas->corename.empty());
  EXPECT_TRUE(path_on(GemmLibrary::openblas, ElementType::f32).has_value());
  EXPECT_FALSE(path_on(GemmLibrary::openblas, ElementType::f64).has_value());
  EXPECT_EQ(path_on(GemmLibrary::loop, ElementType::f64)->route, GemmRoute::loop);
}

TEST(GemmPaths, DescriptionsNameRouteKernelAndReason) {
  const GemmPath& bf16 = gemm_path(ElementType::bf16);
  const std::string text = describe(bf16);
  EXPECT_TRUE(text.starts_with("bf16 GEMM (NT): ")) << text;
  EXPECT_NE(text.find(bf16.kernel), std::string::npos) << text;
  EXPECT_NE(text.find(bf16.reason), std::string::npos) << text;
  const std::string summary = describe(ElementType::f32);
  EXPECT_TRUE(summary.starts_with("fp32 GEMM: ")) << summary;
  EXPECT_NE(summary.find(library_and_kernel(gemm_path(ElementType::f32))), std::string::npos)
      << summary;
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

// Widened bf16 GEMM == the same library's fp32 GEMM on the widened operands, bit for bit: the
// route adds nothing but an exact conversion.
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

    const std::pair<GemmRoute, GemmRoute> routes[] = {
        {GemmRoute::onednn_widened, GemmRoute::onednn},
        {GemmRoute::openblas_widened, GemmRoute::openblas}};
    for (const auto& [widening, fp32] : routes) {
      if (library_of(fp32) == GemmLibrary::openblas && openblas() == nullptr) continue;
      SCOPED_TRACE(std::string(to_string(widening)));
      HostTensor widened = c_init, reference = c_init;
      g.c = widened.raw();
      gemm_on(widening, g);
      GemmArgs f = g;
      f.a = a32.raw();
      f.b = b32.raw();
      f.a_type = f.b_type = ElementType::f32;
      f.c = reference.raw();
      gemm_on(fp32, f);
      EXPECT_TRUE(test::bitwise_equal(widened, reference));
    }
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

// The two libraries agree on every layout, with strided operands and the whole epilogue, to
// fp32 accuracy (they order their sums differently, so not bitwise).
TEST(GemmPaths, OpenBlasAndOneDnnAgreeOnEveryLayout) {
  std::string why_not;
  if (openblas(&why_not) == nullptr) GTEST_SKIP() << why_not;
  const std::int64_t m = 37, n = 70, k = 129, pad = 3;
  for (const GemmLayout layout : kGemmLayouts) {
    SCOPED_TRACE(std::string(to_string(layout)));
    const bool ta = transposes_a(layout), tb = transposes_b(layout);
    const std::int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad;
    HostTensor a16(ElementType::bf16, {(ta ? k : m) * lda}), a(ElementType::f32, {(ta ? k : m) * lda});
    HostTensor b16(ElementType::bf16, {(tb ? n : k) * ldb}), b(ElementType::f32, {(tb ? n : k) * ldb});
    HostTensor bias16(ElementType::bf16, {n}), bias(ElementType::f32, {n});
    fill(a16, a, 6);
    fill(b16, b, 7);
    fill(bias16, bias, 8);
    HostTensor onednn(ElementType::f32, {m * (n + pad)});
    for (std::int64_t i = 0; i < onednn.numel(); ++i) onednn.set(i, 0.5 * static_cast<double>(i % 5));
    HostTensor blas = onednn;
    GemmArgs g;
    g.m = m;
    g.n = n;
    g.k = k;
    g.a = a.raw();
    g.lda = lda;
    g.trans_a = ta;
    g.b = b.raw();
    g.ldb = ldb;
    g.trans_b = tb;
    g.ldc = n + pad;
    g.accumulate = true;
    g.bias = bias.raw();
    g.activation = Activation::silu;
    g.c = onednn.raw();
    gemm_on(GemmRoute::onednn, g);
    g.c = blas.raw();
    gemm_on(GemmRoute::openblas, g);
    EXPECT_LT(test::relative_l2(onednn, blas), 1e-6);
  }
}

// Threads calling the same library at once, each on its own operands and shapes, get exactly
// the bits of the same calls made one at a time: the engine's workers do this all the time.
// (Debian's serial OpenBLAS fails this — wrong bits in tens of calls per run — which is why the
// pthread build with one thread is loaded; openblas.hpp.)
TEST(GemmPaths, ConcurrentCallersOnTheirOwnOperandsGetTheSerialBits) {
  constexpr int kThreads = 4, kCalls = 150;
  for (const GemmLibrary library : {GemmLibrary::onednn, GemmLibrary::openblas}) {
    std::string why_not;
    const std::optional<GemmPath> path = path_on(library, ElementType::f32, GemmLayout::nn, &why_not);
    if (!path) {
      ADD_FAILURE() << to_string(library) << ": " << why_not;
      continue;
    }
    SCOPED_TRACE(std::string(to_string(library)));
    struct Call {
      std::int64_t m, n, k;
      bool ta, tb;
      std::vector<float> a, b, serial, concurrent;
    };
    std::vector<std::vector<Call>> calls(kThreads, std::vector<Call>(kCalls));
    std::uint64_t seed = 11;
    for (auto& mine : calls) {
      for (Call& c : mine) {
        c.m = 1 + static_cast<std::int64_t>(mix(seed, 1) % 64);
        c.n = 1 + static_cast<std::int64_t>(mix(seed, 2) % 96);
        c.k = 1 + static_cast<std::int64_t>(mix(seed, 3) % 96);
        c.ta = mix(seed, 4) % 2 == 1;
        c.tb = mix(seed, 5) % 2 == 1;
        c.a.resize(static_cast<std::size_t>(c.m * c.k));
        c.b.resize(static_cast<std::size_t>(c.k * c.n));
        for (std::size_t j = 0; j < c.a.size(); ++j)
          c.a[j] = static_cast<float>(mix(seed, 100 + static_cast<std::int64_t>(j)) % 1000) / 999.0f - 0.5f;
        for (std::size_t j = 0; j < c.b.size(); ++j)
          c.b[j] = static_cast<float>(mix(seed, 200000 + static_cast<std::int64_t>(j)) % 1000) / 999.0f - 0.5f;
        c.serial.resize(static_cast<std::size_t>(c.m * c.n));
        c.concurrent.resize(c.serial.size());
        ++seed;
      }
    }
    const auto run = [&](Call& c, std::vector<float>& out) {
      GemmArgs g;
      g.m = c.m;
      g.n = c.n;
      g.k = c.k;
      g.a = c.a.data();
      g.lda = c.ta ? c.m : c.k;
      g.trans_a = c.ta;
      g.b = c.b.data();
      g.ldb = c.tb ? c.k : c.n;
      g.trans_b = c.tb;
      g.c = out.data();
      g.ldc = c.n;
      gemm_on(path->route, g);
    };
    for (auto& mine : calls)
      for (Call& c : mine) run(c, c.serial);
    run_on_new_threads(kThreads, [&](int t) {
      for (Call& c : calls[static_cast<std::size_t>(t)]) run(c, c.concurrent);
    });
    int wrong = 0;
    for (const auto& mine : calls)
      for (const Call& c : mine) wrong += c.serial != c.concurrent ? 1 : 0;
    EXPECT_EQ(wrong, 0) << "of " << kThreads * kCalls << " concurrent calls";
  }
}

}  // namespace
}  // namespace flashmoe::cpu
