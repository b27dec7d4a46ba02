// ONE block-tile GEMM written with CuTe for both targets (DESIGN §3). A worker group computes a
// tile task C[m, n] (=|+=) op(A)[m, k] · op(B)[k, n] (+ bias[n]) — the engine's
// portable::TileGemm — by walking it in block tiles of kBlockM × kBlockN: each block tile's
// K loop stages a kBlockM × kBlockK slice of A and a kBlockN × kBlockK slice of B in the group's
// shared memory (group sync between stages), runs the TiledMMA over it from registers, and the
// epilogue adds the bias and hands each element inside the task (predication on every partial
// tile) to an epilogue functor: StoreC writes or accumulates C, StoreCAndActivate also writes the
// activation (portable::TileGemmActivation). What the target decides is only the Config — the
// MMA atom, the copy atoms and the shared-memory layouts — and the group:
//   device: SM80 mma.sync (HMMA), cp.async, ldmatrix, swizzled smem; a thread block;
//   CPU twin: CuTe's universal FMA (widening bf16 exactly, as HMMA does) and element copies,
//             run by a group of G threads with a barrier standing in for __syncthreads().
// So partitioning, shared-memory layout, predication and epilogue indexing — everything but the
// atoms — run on the CPU in CI (tests/tile), against the fp64 reference.
//
// Preconditions (the dispatcher, tile_configs.hpp, checks them and otherwise picks another
// config): the group has size(TiledMma) members; a copy vector of V elements along an operand's
// contiguous mode must not straddle its end (K % V == 0 for K-major operands, M or N % V == 0
// for MN-major ones); `smem` holds Config::kSmemBytes.
#pragma once

#include <cstdint>

#include <cute/tensor.hpp>

#include "flashmoe/macros.hpp"
#include "portable/tile_ops.hpp"

namespace flashmoe::tile {

// Which mode of an operand is contiguous in memory: K (A stored [m, k], B stored [n, k] — an
// nn.Linear weight used as x·Wᵀ), or M / N (A stored [k, m], B stored [k, n]). Fixed at compile
// time, so that the copies can vectorise along it.
enum class Major { k, mn };

namespace detail {

// op(X) as a (rows, K) tensor: `rows` is M for A, N for B.
template <Major kMajor, typename T>
CUTE_HOST_DEVICE auto operand(const T* data, std::int64_t rows, std::int64_t k, std::int64_t ld) {
  using namespace cute;
  if constexpr (kMajor == Major::k)
    return make_tensor(make_gmem_ptr(data), make_shape(rows, k), make_stride(ld, Int<1>{}));
  else
    return make_tensor(make_gmem_ptr(data), make_shape(rows, k), make_stride(Int<1>{}, ld));
}

// One k-slice of an operand into shared memory: every copy vector whose first element lies
// inside [0, rows_left) × [0, k_left) is copied, every other one is zero-filled (zeros add
// nothing to the products, so a partial tile needs no special MMA).
template <typename TiledCopy, typename ThrCopy, typename GTensor, typename STensor,
          typename CTensor>
CUTE_HOST_DEVICE void load_slice(const TiledCopy& tiled_copy, const ThrCopy& thr_copy,
                                 const GTensor& g_slice, STensor& s_slice, const CTensor& coords,
                                 std::int64_t rows_left, std::int64_t k_left) {
  using namespace cute;
  Tensor src = thr_copy.partition_S(g_slice);  // (CPY, CPY_ROWS, CPY_K)
  Tensor dst = thr_copy.partition_D(s_slice);  // (CPY, CPY_ROWS, CPY_K)
  Tensor crd = thr_copy.partition_S(coords);   // (CPY, CPY_ROWS, CPY_K) -> (row, k)
  CUTE_UNROLL
  for (int i = 0; i < size<1>(dst); ++i) {
    CUTE_UNROLL
    for (int j = 0; j < size<2>(dst); ++j) {
      const auto c = crd(0, i, j);
      if (get<0>(c) < rows_left && get<1>(c) < k_left)
        copy(tiled_copy, src(_, i, j), dst(_, i, j));
      else
        clear(dst(_, i, j));
    }
  }
}

}  // namespace detail

// What the epilogue does with each finished element of the task tile: value = acc (+ bias) at
// (row, col), inside the task (partial tiles are predicated before the call); an epilogue with
// after_store(row, col) is then called again for each of the thread's elements, once all of them
// are stored. The plain epilogue writes C — or adds to it, when the task accumulates.
template <typename TAcc>
struct StoreC {
  TAcc* c;
  std::int64_t ldc;
  bool accumulate;
  CUTE_HOST_DEVICE void operator()(std::int64_t row, std::int64_t col, TAcc value) const {
    TAcc& out = c[row * ldc + col];
    out = accumulate ? out + value : value;
  }
};

// The epilogue of portable::TileGemmActivation: C as StoreC writes it, then — in a second loop
// over the same elements, by the thread that stored them — h = act(z) from the stored value, in
// the layer's type T (gated: times the up value at column col + up of C's row, written by an
// earlier GEMM of the group). No group sync and no second pass of the group over the tile; the
// thread reads back its own, cache-hot stores. Computing h from the accumulators in the store
// loop instead kept 128 accumulators live across the activation's math and spilled 308 bytes
// per thread (ptxas, sm_80).
template <typename T, typename TAcc>
struct StoreCAndActivate : StoreC<TAcc> {
  Activation activation;
  bool gated;
  std::int64_t up;
  T* h;
  std::int64_t ldh;
  CUTE_HOST_DEVICE void after_store(std::int64_t row, std::int64_t col) const {
    const TAcc* z = this->c + row * this->ldc + col;
    h[row * ldh + col] = portable::activated_element<T>(activation, gated, *z, z + up);
  }
};

// The tile task `t` on group `g`. Collective: every member calls it with the same arguments;
// on return C is written and visible to every member. TIn / TAcc are CuTe's element types
// (cute::bfloat16_t, float, double; see tile_configs.hpp for the mapping).
template <typename Config, typename Group, typename TIn, typename TAcc, typename Epilogue>
CUTE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE void block_gemm(const Group& g,
                                                          const portable::TileGemm<TIn, TAcc> t,
                                                          void* smem, const Epilogue epilogue) {
  using namespace cute;
  using BlockM = Int<Config::kBlockM>;
  using BlockN = Int<Config::kBlockN>;
  using BlockK = Int<Config::kBlockK>;

  const Tensor mA = detail::operand<Config::kMajorA>(t.a, t.m, t.k, t.lda);  // (M, K)
  const Tensor mB = detail::operand<Config::kMajorB>(t.b, t.n, t.k, t.ldb);  // (N, K)
  auto* smem_a = static_cast<TIn*>(smem);
  auto* smem_b = smem_a + cosize(typename Config::SmemLayoutA{});
  Tensor sA = make_tensor(make_smem_ptr(smem_a), typename Config::SmemLayoutA{});  // (BM, BK)
  Tensor sB = make_tensor(make_smem_ptr(smem_b), typename Config::SmemLayoutB{});  // (BN, BK)
  const Tensor cA = make_identity_tensor(make_shape(BlockM{}, BlockK{}));  // (BM, BK) -> (m, k)
  const Tensor cB = make_identity_tensor(make_shape(BlockN{}, BlockK{}));  // (BN, BK) -> (n, k)
  const Tensor cC = make_identity_tensor(make_shape(BlockM{}, BlockN{}));  // (BM, BN) -> (m, n)

  const int member = g.rank();
  typename Config::CopyA copy_a;
  typename Config::CopyB copy_b;
  const auto thr_copy_a = copy_a.get_slice(member);
  const auto thr_copy_b = copy_b.get_slice(member);

  typename Config::TiledMma mma;
  const auto thr_mma = mma.get_slice(member);
  Tensor tCrA = thr_mma.partition_fragment_A(sA);  // (MMA, MMA_M, MMA_K)
  Tensor tCrB = thr_mma.partition_fragment_B(sB);  // (MMA, MMA_N, MMA_K)
  const Tensor tCcC = thr_mma.partition_C(cC);     // (MMA, MMA_M, MMA_N) -> (m, n)
  Tensor tCrC = thr_mma.make_fragment_C(tCcC);     // (MMA, MMA_M, MMA_N) accumulators

  // Shared → registers, with the atoms the MMA's register layout asks for (ldmatrix on SM80).
  const auto s2r_copy_a = make_tiled_copy_A(typename Config::S2RAtomA{}, mma);
  const auto s2r_thr_a = s2r_copy_a.get_slice(member);
  const Tensor tXsA = s2r_thr_a.partition_S(sA);  // (CPY, MMA_M, MMA_K)
  Tensor tXrA = s2r_thr_a.retile_D(tCrA);         // (CPY, MMA_M, MMA_K)
  const auto s2r_copy_b = make_tiled_copy_B(typename Config::S2RAtomB{}, mma);
  const auto s2r_thr_b = s2r_copy_b.get_slice(member);
  const Tensor tXsB = s2r_thr_b.partition_S(sB);  // (CPY, MMA_N, MMA_K)
  Tensor tXrB = s2r_thr_b.retile_D(tCrB);         // (CPY, MMA_N, MMA_K)

  const std::int64_t m_tiles = (t.m + Config::kBlockM - 1) / Config::kBlockM;
  const std::int64_t n_tiles = (t.n + Config::kBlockN - 1) / Config::kBlockN;
  const std::int64_t k_tiles = (t.k + Config::kBlockK - 1) / Config::kBlockK;
  for (std::int64_t mt = 0; mt < m_tiles; ++mt) {
    for (std::int64_t nt = 0; nt < n_tiles; ++nt) {
      const std::int64_t m_left = t.m - mt * Config::kBlockM;
      const std::int64_t n_left = t.n - nt * Config::kBlockN;
      clear(tCrC);
      for (std::int64_t kt = 0; kt < k_tiles; ++kt) {
        const std::int64_t k_left = t.k - kt * Config::kBlockK;
        const Tensor gA = local_tile(mA, make_shape(BlockM{}, BlockK{}), make_coord(mt, kt));
        const Tensor gB = local_tile(mB, make_shape(BlockN{}, BlockK{}), make_coord(nt, kt));
        detail::load_slice(copy_a, thr_copy_a, gA, sA, cA, m_left, k_left);
        detail::load_slice(copy_b, thr_copy_b, gB, sB, cB, n_left, k_left);
        cp_async_fence();
        cp_async_wait<0>();
        g.sync();  // the slice is in shared memory for every member
        CUTE_UNROLL
        for (int kb = 0; kb < size<2>(tCrA); ++kb) {
          copy(s2r_copy_a, tXsA(_, _, kb), tXrA(_, _, kb));
          copy(s2r_copy_b, tXsB(_, _, kb), tXrB(_, _, kb));
          gemm(mma, tCrA(_, _, kb), tCrB(_, _, kb), tCrC);
        }
        g.sync();  // every member is done with the slice before the next one overwrites it
      }
      // Epilogue: acc + bias, for the elements inside the task tile.
      const std::int64_t m0 = mt * Config::kBlockM, n0 = nt * Config::kBlockN;
      CUTE_UNROLL
      for (int i = 0; i < size(tCrC); ++i) {
        const auto c = tCcC(i);
        const std::int64_t row = m0 + get<0>(c), col = n0 + get<1>(c);
        if (get<0>(c) >= m_left || get<1>(c) >= n_left) continue;
        TAcc value = tCrC(i);
        if (t.bias != nullptr) value += t.bias[col];
        epilogue(row, col, value);
      }
      if constexpr (requires { epilogue.after_store(m0, n0); }) {
        for (int i = 0; i < size(tCcC); ++i) {
          const auto c = tCcC(i);
          if (get<0>(c) < m_left && get<1>(c) < n_left)
            epilogue.after_store(m0 + get<0>(c), n0 + get<1>(c));
        }
      }
    }
  }
  g.sync();  // C is complete for every member
}

// The plain tile task: C (=|+=) op(A)·op(B) (+ bias).
template <typename Config, typename Group, typename TIn, typename TAcc>
CUTE_HOST_DEVICE void block_gemm(const Group& g, const portable::TileGemm<TIn, TAcc>& t,
                                 void* smem) {
  block_gemm<Config>(g, t, smem, StoreC<TAcc>{t.c, t.ldc, t.accumulate});
}

}  // namespace flashmoe::tile
