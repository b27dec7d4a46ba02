// The device tile's CPU twin (tile/block_gemm.hpp): the very CuTe template the GPU runs,
// instantiated with universal atoms and run by a CPU worker group of G threads, against a
// double-precision loop — odd and partial tiles (m, n, k = 1, 7, 65, 129), every operand layout,
// accumulate and bias, bf16, fp16 and fp32, the fused activation epilogue (every activation,
// plain and gated) — plus the device configurations' own block tiles, swizzled shared-memory
// layouts and 16-byte staging (Sm80Half16Twin for bf16 and fp16, Sm80Tf32Twin for tf32, each
// in the forward's and the backward's operand layouts).
// What only the GPU can check — the mma.sync and ldmatrix atoms, cp.async's asynchrony — is
// left to the device tests.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/thread_start.hpp"
#include "flashmoe/half.hpp"
#include "platform/cpu/thread_group.hpp"
#include "support/pseudo_random.hpp"
#include "tile/tile_configs.hpp"

namespace flashmoe::tile {
namespace {

using test::pseudo_random;

struct Case {
  std::int64_t m, n, k;
  bool trans_a, trans_b, accumulate, bias;
  std::int64_t pad = 0;  // extra elements per stored row
};

std::string describe(const Case& c) {
  return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " ta=" + std::to_string(c.trans_a) + " tb=" + std::to_string(c.trans_b) +
         " acc=" + std::to_string(c.accumulate) + " bias=" + std::to_string(c.bias);
}

// The fused activation epilogue (StoreCAndActivate) to run instead of the plain one.
struct Fused {
  Activation activation;
  bool gated;
};

// Runs `Config` on G CPU threads (the config's thread count) for one case and checks every
// element of C (and that C's padding is untouched) against an fp64 loop over the rounded
// operands. In is the engine's element type (bfloat16 or float); the template sees CuTe's.
// With `fused`, C's rows also hold n up columns after the GEMM's (gated: the values an earlier
// GEMM wrote, which must stay untouched), and h must be exactly the activation of the C the
// kernel wrote — the epilogue computes it from the very values it stores — in In.
template <typename Config, typename In>
void check(const Case& c, int threads, std::optional<Fused> fused = std::nullopt) {
  SCOPED_TRACE(describe(c) + (fused ? " activation=" + std::string(to_string(fused->activation)) +
                                           (fused->gated ? " gated" : "")
                                     : std::string()));
  using CIn = cute_type<In>;
  const std::int64_t a_rows = c.trans_a ? c.k : c.m, a_cols = c.trans_a ? c.m : c.k;
  const std::int64_t b_rows = c.trans_b ? c.n : c.k, b_cols = c.trans_b ? c.k : c.n;
  const std::int64_t up = c.n;  // the up columns' offset in C's rows
  const std::int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad,
                     ldc = (fused ? 2 * c.n : c.n) + c.pad, ldh = c.n + c.pad;
  std::vector<In> a(static_cast<std::size_t>(std::max<std::int64_t>(a_rows * lda, 1)));
  std::vector<In> b(static_cast<std::size_t>(std::max<std::int64_t>(b_rows * ldb, 1)));
  std::vector<float> bias(static_cast<std::size_t>(c.n)), out(static_cast<std::size_t>(c.m * ldc));
  for (std::size_t i = 0; i < a.size(); ++i)
    a[i] = from_float<In>(static_cast<float>(pseudo_random(1, static_cast<std::int64_t>(i))));
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = from_float<In>(static_cast<float>(pseudo_random(2, static_cast<std::int64_t>(i))));
  for (std::size_t i = 0; i < bias.size(); ++i)
    bias[i] = static_cast<float>(pseudo_random(3, static_cast<std::int64_t>(i)));
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<float>(pseudo_random(4, static_cast<std::int64_t>(i)));
  const std::vector<float> before = out;
  std::vector<In> h(static_cast<std::size_t>(c.m * ldh), from_float<In>(7.0f));

  portable::TileGemm<CIn, float> t;
  t.m = c.m;
  t.n = c.n;
  t.k = c.k;
  t.a = reinterpret_cast<const CIn*>(a.data());
  t.lda = lda;
  t.trans_a = c.trans_a;
  t.b = reinterpret_cast<const CIn*>(b.data());
  t.ldb = ldb;
  t.trans_b = c.trans_b;
  t.c = out.data();
  t.ldc = ldc;
  t.accumulate = c.accumulate;
  t.bias = c.bias ? bias.data() : nullptr;

  std::vector<std::byte> smem(Config::kSmemBytes + 64);
  void* shared = smem.data() + (64 - reinterpret_cast<std::uintptr_t>(smem.data()) % 64) % 64;
  cpu::GroupShared barrier(threads);
  cpu::PassCompletion completion;
  run_on_new_threads(threads, [&](int member) {
    const cpu::ThreadGroup group(barrier, member, threads, completion);
    if (fused)
      block_gemm<Config>(group, t, shared,
                         StoreCAndActivate<In, float>{{t.c, t.ldc, t.accumulate},
                                                      fused->activation, fused->gated, up,
                                                      h.data(), ldh});
    else
      block_gemm<Config>(group, t, shared);
  });

  for (std::int64_t i = 0; i < c.m; ++i) {
    for (std::int64_t j = 0; j < c.n; ++j) {
      double sum = 0.0, scale = 0.0;
      for (std::int64_t p = 0; p < c.k; ++p) {
        const double av =
            to_float(a[static_cast<std::size_t>(c.trans_a ? p * lda + i : i * lda + p)]);
        const double bv =
            to_float(b[static_cast<std::size_t>(c.trans_b ? j * ldb + p : p * ldb + j)]);
        sum += av * bv;
        scale += std::fabs(av * bv);
      }
      if (c.bias) {
        sum += bias[static_cast<std::size_t>(j)];
        scale += std::fabs(bias[static_cast<std::size_t>(j)]);
      }
      const double old = before[static_cast<std::size_t>(i * ldc + j)];
      if (c.accumulate) {
        sum += old;
        scale += std::fabs(old);
      }
      const double tolerance = 0x1.0p-24 * static_cast<double>(c.k + 3) * scale + 1e-30;
      ASSERT_NEAR(out[static_cast<std::size_t>(i * ldc + j)], sum, tolerance)
          << "at (" << i << ", " << j << ")";
    }
    for (std::int64_t j = c.n; j < ldc; ++j)
      ASSERT_EQ(out[static_cast<std::size_t>(i * ldc + j)],
                before[static_cast<std::size_t>(i * ldc + j)])
          << "padding or up column at (" << i << ", " << j << ")";
    for (std::int64_t j = 0; j < ldh; ++j) {
      const In got = h[static_cast<std::size_t>(i * ldh + j)];
      const float* z = out.data() + i * ldc + j;
      const In want = !fused || j >= c.n
                          ? from_float<In>(7.0f)
                          : portable::activated_element<In>(fused->activation, fused->gated,
                                                            z[0], z + up);
      ASSERT_EQ(to_float(got), to_float(want)) << "h at (" << i << ", " << j << ")";
    }
  }
}

// A small block tile for many shapes: 32 threads, 32 × 32 × 8.
template <typename In, Major kA, Major kB>
using Small = Simt<cute_type<In>, float, kA, kB, 32, 32, 32, 8>;

// The case in each of the four operand layouts, on Tile<kMajorA, kMajorB> of `threads` threads.
template <template <Major, Major> class Tile, typename In>
void every_layout_on(const Case& base, int threads) {
  for (int layout = 0; layout < 4; ++layout) {
    Case c = base;
    c.trans_a = (layout & 1) != 0;
    c.trans_b = (layout & 2) != 0;
    const Major ka = c.trans_a ? Major::mn : Major::k, kb = c.trans_b ? Major::k : Major::mn;
    if (ka == Major::k && kb == Major::k) check<Tile<Major::k, Major::k>, In>(c, threads);
    if (ka == Major::k && kb == Major::mn) check<Tile<Major::k, Major::mn>, In>(c, threads);
    if (ka == Major::mn && kb == Major::k) check<Tile<Major::mn, Major::k>, In>(c, threads);
    if (ka == Major::mn && kb == Major::mn) check<Tile<Major::mn, Major::mn>, In>(c, threads);
  }
}

template <typename In>
struct SmallOf {
  template <Major kA, Major kB>
  using Tile = Small<In, kA, kB>;
};

template <typename In>
void every_layout(const Case& base) {
  every_layout_on<SmallOf<In>::template Tile, In>(base, 32);
}

TEST(BlockGemmTwin, OddAndPartialTilesEveryLayout) {
  const std::int64_t shapes[][3] = {{1, 1, 1}, {7, 1, 65}, {1, 7, 7}, {65, 7, 129}, {33, 65, 9}};
  for (const auto& s : shapes) {
    every_layout<bfloat16>({s[0], s[1], s[2], false, false, false, false});
    every_layout<float16>({s[0], s[1], s[2], false, false, false, false});
    every_layout<float>({s[0], s[1], s[2], false, false, false, false});
  }
}

TEST(BlockGemmTwin, EpilogueAccumulateAndBiasWithPaddedRows) {
  for (int flags = 0; flags < 4; ++flags) {
    const Case c{40, 37, 19, false, false, (flags & 1) != 0, (flags & 2) != 0, 3};
    every_layout<bfloat16>(c);
    every_layout<float>(c);
  }
}

// The fused activation epilogue of the expert's up projection: every activation, plain and
// gated, with bias and partial tiles, on the small SIMT tile and on the device configuration's
// block tile; h must be the activation of the very z the kernel stored, at the same place.
TEST(BlockGemmTwin, FusedActivationEpilogueEveryActivation) {
  const Activation activations[] = {Activation::relu, Activation::gelu, Activation::gelu_tanh,
                                    Activation::silu, Activation::identity};
  for (const Activation activation : activations) {
    for (const bool gated : {false, true}) {
      const Fused fused{activation, gated};
      const Case small{33, 37, 19, false, true, false, true, 3};
      check<Small<bfloat16, Major::k, Major::k>, bfloat16>(small, 32, fused);
      check<Small<float, Major::k, Major::k>, float>(small, 32, fused);
      check<Sm80Bf16TNTwin, bfloat16>({129, 131, 40, false, true, false, true, 8}, 128, fused);
      check<Sm80F16TNTwin, float16>({65, 70, 24, false, true, false, true}, 128, fused);
    }
  }
}

// A fused epilogue over an accumulating task activates the accumulated value (every other case
// checks that the plain epilogue leaves h alone).
TEST(BlockGemmTwin, FusedActivationOfAnAccumulatedTile) {
  check<Small<float, Major::k, Major::mn>, float>({9, 40, 7, false, false, true, false, 1}, 32,
                                                  Fused{Activation::gelu, true});
}

TEST(BlockGemmTwin, EmptyKWritesTheEpilogueOnly) {
  every_layout<float>({5, 9, 0, false, false, true, true});
}

// The device configuration's block tile, swizzle and 16-byte staging, on 128 CPU threads:
// partial tiles in M, N and K (K a multiple of the 8-element vector, as the dispatcher demands).
TEST(BlockGemmTwin, DeviceTileGeometryOfSm80Half16TN) {
  const Case cases[] = {{129, 131, 40, false, true, false, false},
                        {7, 200, 72, false, true, true, true, 8},
                        {256, 64, 32, false, true, false, true}};
  for (const Case& c : cases) {
    check<Sm80Bf16TNTwin, bfloat16>(c, 128);
    check<Sm80F16TNTwin, float16>(c, 128);
  }
}

// The backward's layouts of the 16-bit tensor-core tile: B N-major (dy·W2, dz·W1) and both
// operands MN-major (the weight gradients, which accumulate). An MN-major operand's vectors run
// along M or N, so those are multiples of 8 and K is any count; a K-major one needs K % 8 == 0.
TEST(BlockGemmTwin, DeviceTileGeometryOfSm80Half16WithMnMajorOperands) {
  const Case b_n_major[] = {{129, 136, 40, false, false, false, false},
                            {7, 200, 72, false, false, true, true, 8},
                            {256, 64, 32, false, false, false, true}};
  for (const Case& c : b_n_major) {
    check<Sm80Half16Twin<cute::bfloat16_t, Major::k, Major::mn>, bfloat16>(c, 128);
    check<Sm80Half16Twin<cute::half_t, Major::k, Major::mn>, float16>(c, 128);
  }
  const Case both_mn_major[] = {{136, 72, 1, true, false, false, false},
                                {64, 200, 7, true, false, true, false, 8},
                                {8, 8, 65, true, false, true, true},
                                {128, 136, 129, true, false, true, false}};
  for (const Case& c : both_mn_major) {
    check<Sm80Half16Twin<cute::bfloat16_t, Major::mn, Major::mn>, bfloat16>(c, 128);
    check<Sm80Half16Twin<cute::half_t, Major::mn, Major::mn>, float16>(c, 128);
  }
}

// The device's SIMT tile (DeviceSimt: 64 × 64 on 128 threads), in both of its K slicings — 8
// as fp32 uses, 4 as fp64 does (run here with float elements: the slicing, not the type, sets
// the partition, the staging and the predicates) — in every operand layout, partial everywhere.
template <int kBlockK>
struct DeviceSimtSlicing {
  template <Major kA, Major kB>
  using Tile = Simt<float, float, kA, kB, kDeviceThreads, 64, 64, kBlockK>;
};

TEST(BlockGemmTwin, DeviceSimtGeometryInBothKSlicings) {
  static_assert(kDeviceSimtBlockK<float> == 8 && kDeviceSimtBlockK<double> == 4);
  static_assert(std::is_same_v<DeviceSimt<float, float, Major::k, Major::k>,
                               Simt<float, float, Major::k, Major::k, 128, 64, 64, 8>>);
  const Case cases[] = {{65, 70, 13, false, false, false, false},
                        {129, 7, 9, false, false, true, true, 3},
                        {1, 64, 4, false, false, false, true}};
  for (const Case& c : cases) {
    every_layout_on<DeviceSimtSlicing<kDeviceSimtBlockK<float>>::template Tile, float>(c, 128);
    every_layout_on<DeviceSimtSlicing<kDeviceSimtBlockK<double>>::template Tile, float>(c, 128);
  }
}

// The audited switch's admission test (tensor_core_fits), which device_tile_gemm applies in
// the order KK, KN, NN before falling back to the SIMT tile: a configuration takes only its own
// operand layout, whole vectors along each operand's contiguous mode, and 16-byte alignment.
TEST(BlockGemmTwin, TensorCoreConfigurationsTakeOnlyTheTasksTheyCanPredicate) {
  using KK = Sm80Half16<cute::bfloat16_t, Major::k, Major::k>;
  using KN = Sm80Half16<cute::bfloat16_t, Major::k, Major::mn>;
  using NN = Sm80Half16<cute::bfloat16_t, Major::mn, Major::mn>;
  alignas(16) static cute::bfloat16_t a[64], b[64];
  const auto task = [&](std::int64_t m, std::int64_t n, std::int64_t k, bool ta, bool tb,
                        std::int64_t lda, std::int64_t ldb, int a_offset = 0) {
    portable::TileGemm<cute::bfloat16_t, float> t;
    t.m = m;
    t.n = n;
    t.k = k;
    t.a = a + a_offset;
    t.lda = lda;
    t.trans_a = ta;
    t.b = b;
    t.ldb = ldb;
    t.trans_b = tb;
    return t;
  };
  // Forward (x·W1ᵀ): K-major both; K must be whole vectors, M and N need not be.
  EXPECT_TRUE(tensor_core_fits<KK>(task(7, 13, 64, false, true, 64, 64)));
  EXPECT_FALSE(tensor_core_fits<KK>(task(8, 8, 60, false, true, 60, 60)));
  EXPECT_FALSE(tensor_core_fits<KN>(task(7, 13, 64, false, true, 64, 64)));
  // dy·W2: B N-major; N must be whole vectors, and so must the leading dimensions.
  EXPECT_TRUE(tensor_core_fits<KN>(task(7, 16, 64, false, false, 64, 80)));
  EXPECT_FALSE(tensor_core_fits<KN>(task(7, 12, 64, false, false, 64, 80)));
  EXPECT_FALSE(tensor_core_fits<KN>(task(7, 16, 64, false, false, 64, 84)));
  // Weight gradients: both MN-major; any K (each vector lies at one k), M and N whole vectors.
  EXPECT_TRUE(tensor_core_fits<NN>(task(24, 16, 5, true, false, 24, 16)));
  EXPECT_FALSE(tensor_core_fits<NN>(task(20, 16, 5, true, false, 24, 16)));
  EXPECT_FALSE(tensor_core_fits<NN>(task(24, 16, 5, true, false, 24, 16, /*a_offset=*/4)));
  EXPECT_FALSE(tensor_core_fits<KK>(task(24, 16, 8, true, false, 24, 16)));
}

TEST(BlockGemmTwin, DeviceTileGeometryOfSm80Tf32TN) {
  // 128 × 64 × 16 block tiles, 4-float vectors along K: partial tiles in every dimension, K
  // not a multiple of the block's (but of the vector), padded rows, bias and accumulate.
  const Case cases[] = {{129, 131, 20, false, true, false, false},
                        {7, 200, 36, false, true, true, true, 4},
                        {256, 64, 16, false, true, false, true}};
  for (const Case& c : cases) check<Sm80Tf32TNTwin, float>(c, 128);
}

// The backward's layouts of the tf32 tile: B N-major and both MN-major, whose smem columns are
// padded (bank spreading): the pad must neither be read as data nor shift a column.
TEST(BlockGemmTwin, DeviceTileGeometryOfSm80Tf32WithMnMajorOperands) {
  const Case b_n_major[] = {{129, 132, 20, false, false, false, false},
                            {7, 200, 36, false, false, true, true, 4}};
  for (const Case& c : b_n_major) check<Sm80Tf32Twin<Major::k, Major::mn>, float>(c, 128);
  const Case both_mn_major[] = {{132, 72, 1, true, false, false, false},
                                {64, 200, 7, true, false, true, false, 4},
                                {4, 8, 33, true, false, true, true},
                                {128, 136, 129, true, false, true, false}};
  for (const Case& c : both_mn_major) check<Sm80Tf32Twin<Major::mn, Major::mn>, float>(c, 128);
}

}  // namespace
}  // namespace flashmoe::tile
