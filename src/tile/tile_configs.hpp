// The configurations of block_gemm (block_gemm.hpp) and the one audited switch that picks one for
// a tile task. A configuration fixes the block tile (kBlockM × kBlockN × kBlockK), the operands'
// contiguous modes, the TiledMMA, the copy atoms and the shared-memory layouts; the switch maps
// the engine's element types to CuTe's and refuses nothing silently: a task that no tensor-core
// configuration can take (alignment, K not a multiple of the copy vector, a layout without a
// tensor-core config) goes to the SIMT configuration of the same template, which takes every
// shape.
//
// Configurations:
//   Sm80Bf16TN   bf16 × bf16 → fp32, both operands K-major (x·W1ᵀ, h·W2ᵀ, x·wgᵀ): SM80
//                mma.sync m16n8k16 (HMMA.16816.F32.BF16), cp.async 16-byte copies, ldmatrix,
//                a swizzled smem layout; 128 threads, 128 × 128 × 32 block tiles.
//   Sm80Tf32TN   fp32 × fp32 → fp32 on tf32 tensor cores, both operands K-major, only where the
//                layer allows tf32 (TileGemm::allow_tf32): SM80 mma.sync m16n8k8
//                (HMMA.1688.F32.TF32; the tensor core reads the top 19 bits of each fp32
//                operand), cp.async 16-byte copies, element loads from a plain K-major smem
//                layout; 128 threads, 128 × 128 × 16 block tiles (the same 16 KB as bf16).
//   Simt<...>    every type and layout: FMA per thread (widening bf16 exactly), element copies;
//                kThreads threads; on the device the fallback, on the CPU the twin.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cute/tensor.hpp>

#include "flashmoe/half.hpp"
#include "portable/tile_ops.hpp"
#include "tile/block_gemm.hpp"

namespace flashmoe::tile {

// d = a · b + c with both factors widened to D first. cute::UniversalFMA forms a·b in the
// factors' type, which for bf16 rounds the product to bf16; a tensor core keeps it exact in
// fp32, and so must the twin.
template <typename D, typename A, typename B, typename C>
struct WideningFMA {
  using DRegisters = D[1];
  using ARegisters = A[1];
  using BRegisters = B[1];
  using CRegisters = C[1];
  CUTE_HOST_DEVICE static constexpr void fma(D& d, const A& a, const B& b, const C& c) {
    d = static_cast<D>(a) * static_cast<D>(b) + static_cast<D>(c);
  }
};

}  // namespace flashmoe::tile

namespace cute {
template <typename D, typename A, typename B, typename C>
struct MMA_Traits<flashmoe::tile::WideningFMA<D, A, B, C>> {
  using ValTypeD = D;
  using ValTypeA = A;
  using ValTypeB = B;
  using ValTypeC = C;
  using Shape_MNK = Shape<_1, _1, _1>;
  using ThrID = Layout<_1>;
  using ALayout = Layout<Shape<_1, _1>>;
  using BLayout = Layout<Shape<_1, _1>>;
  using CLayout = Layout<Shape<_1, _1>>;
};
}  // namespace cute

namespace flashmoe::tile {

// The engine's element types as CuTe's (same bits).
template <typename T>
struct CuteType {
  using type = T;
};
template <>
struct CuteType<bfloat16> {
  using type = cute::bfloat16_t;
};
template <typename T>
using cute_type = typename CuteType<T>::type;
static_assert(sizeof(cute::bfloat16_t) == sizeof(bfloat16));
static_assert(sizeof(cute::tfloat32_t) == sizeof(float));

// kThreads members compute block tiles of kBlockM × kBlockN × kBlockK with one FMA per
// element and thread, copying element by element (any layout, any alignment, any K).
template <typename TIn, typename TAcc, Major kA, Major kB, int kThreads = 128, int kBM = 64,
          int kBN = 64, int kBK = 8>
struct Simt {
  static_assert(kThreads % 8 == 0 && kBM % (kThreads / 8) == 0 && kBN % 8 == 0);
  static constexpr Major kMajorA = kA, kMajorB = kB;
  static constexpr int kBlockM = kBM, kBlockN = kBN, kBlockK = kBK;
  using Threads = cute::Layout<cute::Shape<cute::Int<kThreads / 8>, cute::_8, cute::_1>>;
  using TiledMma = cute::TiledMMA<cute::MMA_Atom<WideningFMA<TAcc, TIn, TIn, TAcc>>, Threads>;
  // Operand slices in shared memory, K-major (the FMA reads them element by element).
  using SmemLayoutA = cute::Layout<cute::Shape<cute::Int<kBM>, cute::Int<kBK>>,
                                   cute::Stride<cute::Int<kBK>, cute::_1>>;
  using SmemLayoutB = cute::Layout<cute::Shape<cute::Int<kBN>, cute::Int<kBK>>,
                                   cute::Stride<cute::Int<kBK>, cute::_1>>;
  // Members spread over the slice: kThreads / kBK rows × kBK along K, one element each.
  using CopyThreads = cute::Layout<cute::Shape<cute::Int<kThreads / kBK>, cute::Int<kBK>>,
                                   cute::Stride<cute::Int<kBK>, cute::_1>>;
  using CopyA = decltype(cute::make_tiled_copy(cute::Copy_Atom<cute::UniversalCopy<TIn>, TIn>{},
                                               CopyThreads{},
                                               cute::Layout<cute::Shape<cute::_1, cute::_1>>{}));
  using CopyB = CopyA;
  using S2RAtomA = cute::Copy_Atom<cute::UniversalCopy<TIn>, TIn>;
  using S2RAtomB = S2RAtomA;
  static constexpr std::size_t kSmemBytes = sizeof(TIn) * (kBM + kBN) * kBK;
};

// bf16 tensor cores, both operands K-major (the forward's GEMMs and the gate's).
struct Sm80Bf16TN {
  using T = cute::bfloat16_t;
  static constexpr Major kMajorA = Major::k, kMajorB = Major::k;
  static constexpr int kBlockM = 128, kBlockN = 128, kBlockK = 32;
  // 2 × 2 warps of m16n8k16, each warp tile 32 × 32 (Tile's permutation doubles N per warp).
  using TiledMma = cute::TiledMMA<cute::MMA_Atom<cute::SM80_16x8x16_F32BF16BF16F32_TN>,
                                  cute::Layout<cute::Shape<cute::_2, cute::_2, cute::_1>>,
                                  cute::Tile<cute::_32, cute::_32, cute::_16>>;
  // 32 bf16 (64 bytes) per row; the swizzle spreads ldmatrix's rows over all banks.
  using SmemAtom = decltype(cute::composition(
      cute::Swizzle<2, 3, 3>{}, cute::Layout<cute::Shape<cute::_8, cute::Int<kBlockK>>,
                                             cute::Stride<cute::Int<kBlockK>, cute::_1>>{}));
  using SmemLayoutA = decltype(cute::tile_to_shape(
      SmemAtom{}, cute::Shape<cute::Int<kBlockM>, cute::Int<kBlockK>>{}));
  using SmemLayoutB = decltype(cute::tile_to_shape(
      SmemAtom{}, cute::Shape<cute::Int<kBlockN>, cute::Int<kBlockK>>{}));
  // 128 threads: 32 rows × 4 along K, 8 bf16 (16 bytes) each: one cp.async per vector.
  using CopyA = decltype(cute::make_tiled_copy(
      cute::Copy_Atom<cute::SM80_CP_ASYNC_CACHEGLOBAL<cute::uint128_t>, T>{},
      cute::Layout<cute::Shape<cute::_32, cute::_4>, cute::Stride<cute::_4, cute::_1>>{},
      cute::Layout<cute::Shape<cute::_1, cute::_8>>{}));
  using CopyB = CopyA;
  using S2RAtomA = cute::Copy_Atom<cute::SM75_U32x4_LDSM_N, T>;
  using S2RAtomB = S2RAtomA;
  static constexpr int kVector = 8;  // elements per copy vector
  static constexpr std::size_t kSmemBytes = sizeof(T) * (kBlockM + kBlockN) * kBlockK;
};

// tf32 tensor cores for fp32 operands, both K-major (the forward's GEMMs of an fp32 layer with
// allow_tf32). The operands are fp32 in memory and tf32 to the MMA (same 32 bits: no conversion
// pass; the tensor core ignores the low 13 mantissa bits).
struct Sm80Tf32TN {
  using T = cute::tfloat32_t;
  static constexpr Major kMajorA = Major::k, kMajorB = Major::k;
  static constexpr int kBlockM = 128, kBlockN = 128, kBlockK = 16;
  using TiledMma = cute::TiledMMA<cute::MMA_Atom<cute::SM80_16x8x8_F32TF32TF32F32_TN>,
                                  cute::Layout<cute::Shape<cute::_2, cute::_2, cute::_1>>,
                                  cute::Tile<cute::_32, cute::_32, cute::_8>>;
  using SmemLayoutA = cute::Layout<cute::Shape<cute::Int<kBlockM>, cute::Int<kBlockK>>,
                                   cute::Stride<cute::Int<kBlockK>, cute::_1>>;
  using SmemLayoutB = cute::Layout<cute::Shape<cute::Int<kBlockN>, cute::Int<kBlockK>>,
                                   cute::Stride<cute::Int<kBlockK>, cute::_1>>;
  // 128 threads: 32 rows × 4 along K, 4 floats (16 bytes) each: one cp.async per vector.
  using CopyA = decltype(cute::make_tiled_copy(
      cute::Copy_Atom<cute::SM80_CP_ASYNC_CACHEGLOBAL<cute::uint128_t>, T>{},
      cute::Layout<cute::Shape<cute::_32, cute::_4>, cute::Stride<cute::_4, cute::_1>>{},
      cute::Layout<cute::Shape<cute::_1, cute::_4>>{}));
  using CopyB = CopyA;
  using S2RAtomA = cute::Copy_Atom<cute::UniversalCopy<T>, T>;
  using S2RAtomB = S2RAtomA;
  static constexpr int kVector = 4;
  static constexpr std::size_t kSmemBytes = sizeof(T) * (kBlockM + kBlockN) * kBlockK;
};

// The CPU twin of Sm80Tf32TN: its block tile, smem layout and 16-byte staging partition, with
// fp32 FMA in place of the tf32 MMA (so it checks the data movement, not tf32 rounding).
struct Sm80Tf32TNTwin {
  using T = float;
  static constexpr Major kMajorA = Major::k, kMajorB = Major::k;
  static constexpr int kBlockM = Sm80Tf32TN::kBlockM, kBlockN = Sm80Tf32TN::kBlockN,
                       kBlockK = Sm80Tf32TN::kBlockK;
  using TiledMma = Simt<T, float, Major::k, Major::k, 128, kBlockM, kBlockN, kBlockK>::TiledMma;
  using SmemLayoutA = Sm80Tf32TN::SmemLayoutA;
  using SmemLayoutB = Sm80Tf32TN::SmemLayoutB;
  using CopyA = decltype(cute::make_tiled_copy(
      cute::Copy_Atom<cute::UniversalCopy<cute::uint128_t>, T>{},
      cute::Layout<cute::Shape<cute::_32, cute::_4>, cute::Stride<cute::_4, cute::_1>>{},
      cute::Layout<cute::Shape<cute::_1, cute::_4>>{}));
  using CopyB = CopyA;
  using S2RAtomA = cute::Copy_Atom<cute::UniversalCopy<T>, T>;
  using S2RAtomB = S2RAtomA;
  static constexpr int kVector = Sm80Tf32TN::kVector;
  static constexpr std::size_t kSmemBytes = Sm80Tf32TN::kSmemBytes;
};

// The CPU twin of Sm80Bf16TN: the same block tile, the same swizzled shared-memory layout and the
// same gmem → smem partitioning (32 × 4 threads, 16-byte vectors, each a plain 16-byte copy
// instead of cp.async), with the FMA of Simt in place of mma.sync and element copies in place
// of ldmatrix. It proves on the CPU the staging, swizzle and predication the device runs.
struct Sm80Bf16TNTwin {
  using T = cute::bfloat16_t;
  static constexpr Major kMajorA = Major::k, kMajorB = Major::k;
  static constexpr int kBlockM = Sm80Bf16TN::kBlockM, kBlockN = Sm80Bf16TN::kBlockN,
                       kBlockK = Sm80Bf16TN::kBlockK;
  using TiledMma = Simt<T, float, Major::k, Major::k, 128, kBlockM, kBlockN, kBlockK>::TiledMma;
  using SmemLayoutA = Sm80Bf16TN::SmemLayoutA;
  using SmemLayoutB = Sm80Bf16TN::SmemLayoutB;
  using CopyA = decltype(cute::make_tiled_copy(
      cute::Copy_Atom<cute::UniversalCopy<cute::uint128_t>, T>{},
      cute::Layout<cute::Shape<cute::_32, cute::_4>, cute::Stride<cute::_4, cute::_1>>{},
      cute::Layout<cute::Shape<cute::_1, cute::_8>>{}));
  using CopyB = CopyA;
  using S2RAtomA = cute::Copy_Atom<cute::UniversalCopy<T>, T>;
  using S2RAtomB = S2RAtomA;
  static constexpr int kVector = Sm80Bf16TN::kVector;
  static constexpr std::size_t kSmemBytes = Sm80Bf16TN::kSmemBytes;
};

// Threads of the device's worker group (a thread block): every device configuration's TiledMMA
// has exactly this many.
inline constexpr int kDeviceThreads = 128;
static_assert(cute::size(Sm80Bf16TN::TiledMma{}) == kDeviceThreads);
static_assert(cute::size(Sm80Tf32TN::TiledMma{}) == kDeviceThreads);
static_assert(cute::size(Simt<float, float, Major::k, Major::k>::TiledMma{}) == kDeviceThreads);

// Shared memory the device's block tiles need at most (the persistent kernel's allocation).
inline constexpr std::size_t kDeviceSmemBytes = Sm80Bf16TN::kSmemBytes;
static_assert(Sm80Tf32TN::kSmemBytes <= kDeviceSmemBytes);

template <typename Config, typename In, typename Out>
CUTE_HOST_DEVICE bool tensor_core_fits(const portable::TileGemm<In, Out>& t) {
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  return !t.trans_a && t.trans_b && t.k % Config::kVector == 0 && t.lda % Config::kVector == 0 &&
         t.ldb % Config::kVector == 0 && aligned(t.a) && aligned(t.b);
}

// The device's tile GEMM: the audited switch. Collective over the block (128 threads).
template <typename Group, typename In, typename Out>
CUTE_DEVICE void device_tile_gemm(const Group& g, const portable::TileGemm<In, Out>& t,
                                  void* smem) {
  using CIn = cute_type<In>;
  const auto& c = reinterpret_cast<const portable::TileGemm<CIn, Out>&>(t);
  if constexpr (std::is_same_v<In, bfloat16>) {
    if (tensor_core_fits<Sm80Bf16TN>(t)) return block_gemm<Sm80Bf16TN>(g, c, smem);
  }
  if constexpr (std::is_same_v<In, float>) {
    if (t.allow_tf32 && tensor_core_fits<Sm80Tf32TN>(t))
      return block_gemm<Sm80Tf32TN>(
          g, reinterpret_cast<const portable::TileGemm<cute::tfloat32_t, Out>&>(t), smem);
  }
  if (!t.trans_a && t.trans_b) return block_gemm<Simt<CIn, Out, Major::k, Major::k>>(g, c, smem);
  if (!t.trans_a && !t.trans_b) return block_gemm<Simt<CIn, Out, Major::k, Major::mn>>(g, c, smem);
  if (t.trans_a && !t.trans_b) return block_gemm<Simt<CIn, Out, Major::mn, Major::mn>>(g, c, smem);
  return block_gemm<Simt<CIn, Out, Major::mn, Major::k>>(g, c, smem);
}

}  // namespace flashmoe::tile
