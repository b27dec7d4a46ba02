// The device tile's CPU twin (tile/block_gemm.hpp): the very CuTe template the GPU runs,
// instantiated with universal atoms and run by a CPU worker group of G threads, against a
// double-precision loop — odd and partial tiles (m, n, k = 1, 7, 65, 129), every operand layout,
// accumulate and bias, bf16 and fp32 — plus the device configuration's own block tile, swizzled
// shared-memory layout and 16-byte staging (Sm80Bf16TNTwin, and Sm80Tf32TNTwin for tf32). What only the GPU can check — the
// mma.sync and ldmatrix atoms, cp.async's asynchrony — is left to the device tests.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
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

// Runs `Config` on G CPU threads (the config's thread count) for one case and checks every
// element of C (and that C's padding is untouched) against an fp64 loop over the rounded
// operands. In is the engine's element type (bfloat16 or float); the template sees CuTe's.
template <typename Config, typename In>
void check(const Case& c, int threads) {
  SCOPED_TRACE(describe(c));
  using CIn = cute_type<In>;
  const std::int64_t a_rows = c.trans_a ? c.k : c.m, a_cols = c.trans_a ? c.m : c.k;
  const std::int64_t b_rows = c.trans_b ? c.n : c.k, b_cols = c.trans_b ? c.k : c.n;
  const std::int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
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
          << "padding at (" << i << ", " << j << ")";
  }
}

// A small block tile for many shapes: 32 threads, 32 × 32 × 8.
template <typename In, Major kA, Major kB>
using Small = Simt<cute_type<In>, float, kA, kB, 32, 32, 32, 8>;

template <typename In>
void every_layout(const Case& base) {
  for (int layout = 0; layout < 4; ++layout) {
    Case c = base;
    c.trans_a = (layout & 1) != 0;
    c.trans_b = (layout & 2) != 0;
    const Major ka = c.trans_a ? Major::mn : Major::k, kb = c.trans_b ? Major::k : Major::mn;
    if (ka == Major::k && kb == Major::k) check<Small<In, Major::k, Major::k>, In>(c, 32);
    if (ka == Major::k && kb == Major::mn) check<Small<In, Major::k, Major::mn>, In>(c, 32);
    if (ka == Major::mn && kb == Major::k) check<Small<In, Major::mn, Major::k>, In>(c, 32);
    if (ka == Major::mn && kb == Major::mn) check<Small<In, Major::mn, Major::mn>, In>(c, 32);
  }
}

TEST(BlockGemmTwin, OddAndPartialTilesEveryLayout) {
  const std::int64_t shapes[][3] = {{1, 1, 1}, {7, 1, 65}, {1, 7, 7}, {65, 7, 129}, {33, 65, 9}};
  for (const auto& s : shapes) {
    every_layout<bfloat16>({s[0], s[1], s[2], false, false, false, false});
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

TEST(BlockGemmTwin, EmptyKWritesTheEpilogueOnly) {
  every_layout<float>({5, 9, 0, false, false, true, true});
}

// The device configuration's block tile, swizzle and 16-byte staging, on 128 CPU threads:
// partial tiles in M, N and K (K a multiple of the 8-element vector, as the dispatcher demands).
TEST(BlockGemmTwin, DeviceTileGeometryOfSm80Bf16TN) {
  const Case cases[] = {{129, 131, 40, false, true, false, false},
                        {7, 200, 72, false, true, true, true, 8},
                        {256, 64, 32, false, true, false, true}};
  for (const Case& c : cases) check<Sm80Bf16TNTwin, bfloat16>(c, 128);
}

TEST(BlockGemmTwin, DeviceTileGeometryOfSm80Tf32TN) {
  // 128 × 128 × 16 block tiles, 4-float vectors along K: partial tiles in every dimension, K
  // not a multiple of the block's (but of the vector), padded rows, bias and accumulate.
  const Case cases[] = {{129, 131, 20, false, true, false, false},
                        {7, 200, 36, false, true, true, true, 4},
                        {256, 64, 16, false, true, false, true}};
  for (const Case& c : cases) check<Sm80Tf32TNTwin, float>(c, 128);
}

}  // namespace
}  // namespace flashmoe::tile
