// The configurations of block_gemm (block_gemm.hpp) and the one audited switch that picks one for
// a tile task. A configuration fixes the block tile (kBlockM × kBlockN × kBlockK), the operands'
// contiguous modes, the TiledMMA, the copy atoms and the shared-memory layouts; the switch maps
// the engine's element types to CuTe's and refuses nothing silently: a task that no tensor-core
// configuration can take (alignment, K not a multiple of the copy vector, a layout without a
// tensor-core config) goes to the SIMT configuration of the same template, which takes every
// shape.
//
// Configurations:
//   Sm80Half16   bf16 × bf16 or fp16 × fp16 → fp32, each operand K-major or MN-major: both
//                K-major (Sm80Bf16TN, Sm80F16TN: x·W1ᵀ, h·W2ᵀ, x·wgᵀ), B N-major (dy·W2,
//                dz·W1), both MN-major (the weight gradients dyᵀ·h, dzᵀ·x): SM80 mma.sync
//                m16n8k16 (HMMA.16816.F32.BF16, HMMA.16816.F32), cp.async 16-byte copies,
//                ldmatrix (.trans for MN-major operands), swizzled smem layouts; 128 threads,
//                128 × 64 × 32 block tiles.
//   Sm80Tf32     fp32 × fp32 → fp32 on tf32 tensor cores, each operand K-major or MN-major (the
//                same GEMMs as Sm80Half16), only where the layer allows tf32
//                (TileGemm::allow_tf32): SM80 mma.sync m16n8k8 (HMMA.1688.F32.TF32; the tensor
//                core reads the top 19 bits of each fp32 operand), cp.async 16-byte copies,
//                element loads from plain (MN-major: padded) smem layouts; 128 threads,
//                128 × 64 × 16 block tiles.
// Why 128 × 64 and not 128 × 128 (measured with ptxas -v, sm_80, 2026-12-02): a 128 × 128 tile
// on 128 threads holds 128 fp32 accumulators per thread; with the A and B fragments that leaves
// nothing of the 255 registers, so the tiles spilled 24-40 B, the task actors around them 70-140
// B, and the bf16 kernel's stack was 672 B. At 128 × 64 (64 accumulators per thread, the shape
// of CUTLASS's 4-warp SM80 tiles) no tile or actor spills and the stack was 224 B (lower since:
// docs/cuda.md has the current figures).
//   Simt<...>    every type and layout: FMA per thread (widening bf16 exactly), element copies;
//                kThreads threads; on the device the fallback (DeviceSimt), on the CPU the twin.
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
template <>
struct CuteType<float16> {
  using type = cute::half_t;
};
template <typename T>
using cute_type = typename CuteType<T>::type;
static_assert(sizeof(cute::bfloat16_t) == sizeof(bfloat16));
static_assert(sizeof(cute::half_t) == sizeof(float16));
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

// The gmem → smem copy of an operand (its CopyThreads × CopyValues partition of 16-byte
// vectors): cp.async on the device, a plain 16-byte copy in the CPU twin.
template <typename T, typename Operand>
using StagingCopy = decltype(cute::make_tiled_copy(
    cute::Copy_Atom<cute::SM80_CP_ASYNC_CACHEGLOBAL<cute::uint128_t>, T>{},
    typename Operand::CopyThreads{}, typename Operand::CopyValues{}));
template <typename T, typename Operand>
using TwinStagingCopy =
    decltype(cute::make_tiled_copy(cute::Copy_Atom<cute::UniversalCopy<cute::uint128_t>, T>{},
                                   typename Operand::CopyThreads{},
                                   typename Operand::CopyValues{}));

// One 16-bit operand of the SM80 tensor-core tile, by its contiguous mode: its shared-memory
// layout for a kRows × kBlockK slice, its gmem → smem partition over 128 threads (16-byte
// vectors, 8 values along the contiguous mode) and its smem → register atom.
template <typename T, Major kMajor, int kRows, int kBlockK>
struct Sm80Half16Operand;

// K-major (x·W1ᵀ's operands): 32 values (64 bytes) per row; the swizzle spreads ldmatrix's rows
// over all banks. 32 rows × 4 threads along K per copy step.
template <typename T, int kRows, int kBlockK>
struct Sm80Half16Operand<T, Major::k, kRows, kBlockK> {
  using SmemAtom = decltype(cute::composition(
      cute::Swizzle<2, 3, 3>{}, cute::Layout<cute::Shape<cute::_8, cute::Int<kBlockK>>,
                                             cute::Stride<cute::Int<kBlockK>, cute::_1>>{}));
  using SmemLayout = decltype(cute::tile_to_shape(
      SmemAtom{}, cute::Shape<cute::Int<kRows>, cute::Int<kBlockK>>{}));
  using CopyThreads =
      cute::Layout<cute::Shape<cute::_32, cute::_4>, cute::Stride<cute::_4, cute::_1>>;
  using CopyValues = cute::Layout<cute::Shape<cute::_1, cute::_8>>;
  using S2RAtom = cute::Copy_Atom<cute::SM75_U32x4_LDSM_N, T>;
};

// M- or N-major (the backward's: W2 in dy·W2, W1 in dz·W1, both operands of the weight
// gradients): 64 rows (128 bytes) contiguous per k, 8 k per atom; ldmatrix.trans transposes
// 8 × 8 blocks into the MMA's K-major fragments, the swizzle keeps its rows off each other's
// banks. Per copy step the 128 threads cover all kRows rows (kRows / 8 threads, one 8-value
// vector each) × 128 / (kRows / 8) k: 16 × 8 threads for 128 rows, 8 × 16 for 64.
template <typename T, int kRows, int kBlockK>
struct Sm80Half16Operand<T, Major::mn, kRows, kBlockK> {
  static constexpr int kRowThreads = kRows / 8, kKThreads = 128 / kRowThreads;
  static_assert(kRows % 64 == 0 && kRowThreads <= 128 && kBlockK % kKThreads == 0);
  using SmemAtom = decltype(cute::composition(
      cute::Swizzle<3, 3, 3>{},
      cute::Layout<cute::Shape<cute::_64, cute::_8>, cute::Stride<cute::_1, cute::_64>>{}));
  using SmemLayout = decltype(cute::tile_to_shape(
      SmemAtom{}, cute::Shape<cute::Int<kRows>, cute::Int<kBlockK>>{}));
  using CopyThreads = cute::Layout<cute::Shape<cute::Int<kRowThreads>, cute::Int<kKThreads>>,
                                   cute::Stride<cute::_1, cute::Int<kRowThreads>>>;
  using CopyValues = cute::Layout<cute::Shape<cute::_8, cute::_1>>;
  using S2RAtom = cute::Copy_Atom<cute::SM75_U16x8_LDSM_T, T>;
};

// 16-bit tensor cores — bf16 or fp16 operands, fp32 accumulators — for each operand K-major or
// MN-major: the forward's GEMMs and the gate's (both K-major), the backward's dh = dy·W2 and
// dx = dz·W1 (B N-major) and weight gradients (both MN-major). T is cute::bfloat16_t or
// cute::half_t; the MMA atom follows. 128 × 64 × 32 block tiles, 2 × 2 warps of m16n8k16,
// the 2 × 2 warps' 32 × 32 MMA tile repeated 4 × 2 times (each warp: 64 × 32, 64 accumulators
// per thread); one cp.async per 16-byte vector.
template <typename T16, Major kA, Major kB>
struct Sm80Half16 {
  using T = T16;
  static_assert(std::is_same_v<T, cute::bfloat16_t> || std::is_same_v<T, cute::half_t>);
  using MmaAtom = std::conditional_t<std::is_same_v<T, cute::bfloat16_t>,
                                     cute::SM80_16x8x16_F32BF16BF16F32_TN,
                                     cute::SM80_16x8x16_F32F16F16F32_TN>;
  static constexpr Major kMajorA = kA, kMajorB = kB;
  static constexpr int kBlockM = 128, kBlockN = 64, kBlockK = 32;
  using TiledMma = cute::TiledMMA<cute::MMA_Atom<MmaAtom>,
                                  cute::Layout<cute::Shape<cute::_2, cute::_2, cute::_1>>,
                                  cute::Tile<cute::_32, cute::_32, cute::_16>>;
  using OperandA = Sm80Half16Operand<T, kA, kBlockM, kBlockK>;
  using OperandB = Sm80Half16Operand<T, kB, kBlockN, kBlockK>;
  using SmemLayoutA = typename OperandA::SmemLayout;
  using SmemLayoutB = typename OperandB::SmemLayout;
  using CopyA = StagingCopy<T, OperandA>;
  using CopyB = StagingCopy<T, OperandB>;
  using S2RAtomA = typename OperandA::S2RAtom;
  using S2RAtomB = typename OperandB::S2RAtom;
  static constexpr int kVector = 8;  // elements per copy vector
  static constexpr std::size_t kSmemBytes = sizeof(T) * (kBlockM + kBlockN) * kBlockK;
};
template <typename T16>
using Sm80Half16TN = Sm80Half16<T16, Major::k, Major::k>;
using Sm80Bf16TN = Sm80Half16TN<cute::bfloat16_t>;  // HMMA.16816.F32.BF16
using Sm80F16TN = Sm80Half16TN<cute::half_t>;       // HMMA.16816.F32

// One fp32 operand of the SM80 tf32 tile, by its contiguous mode: its shared-memory layout
// for a kRows × kBlockK slice and its gmem → smem partition over 128 threads (16-byte vectors,
// 4 values along the contiguous mode). Registers are loaded element by element (ldmatrix moves
// 16-bit values; there is no transposing load for 32-bit ones).
template <Major kMajor, int kRows, int kBlockK>
struct Sm80Tf32Operand;

// K-major (x·W1ᵀ's operands): rows of kBlockK floats; 32 rows × 4 threads along K per step.
template <int kRows, int kBlockK>
struct Sm80Tf32Operand<Major::k, kRows, kBlockK> {
  using SmemLayout = cute::Layout<cute::Shape<cute::Int<kRows>, cute::Int<kBlockK>>,
                                  cute::Stride<cute::Int<kBlockK>, cute::_1>>;
  using CopyThreads =
      cute::Layout<cute::Shape<cute::_32, cute::_4>, cute::Stride<cute::_4, cute::_1>>;
  using CopyValues = cute::Layout<cute::Shape<cute::_1, cute::_4>>;
};

// M- or N-major (the backward's): columns of kRows floats, padded by 4 so that the MMA's
// fragment reads — 8 rows × 4 k per warp — fall in 32 distinct banks (unpadded, the 4 k of a
// column share a bank); the pad keeps every column 16-byte aligned for cp.async. Per step the
// 128 threads cover all kRows rows (kRows / 4 threads, one 4-value vector each) × 128 / (kRows
// / 4) k: 32 × 4 threads for 128 rows, 16 × 8 for 64.
template <int kRows, int kBlockK>
struct Sm80Tf32Operand<Major::mn, kRows, kBlockK> {
  static constexpr int kColumnStride = kRows + 4;
  static_assert(kColumnStride * sizeof(float) % 16 == 0, "cp.async needs 16-byte columns");
  static constexpr int kRowThreads = kRows / 4, kKThreads = 128 / kRowThreads;
  static_assert(kRows % 16 == 0 && kRowThreads <= 128 && kBlockK % kKThreads == 0);
  using SmemLayout = cute::Layout<cute::Shape<cute::Int<kRows>, cute::Int<kBlockK>>,
                                  cute::Stride<cute::_1, cute::Int<kColumnStride>>>;
  using CopyThreads = cute::Layout<cute::Shape<cute::Int<kRowThreads>, cute::Int<kKThreads>>,
                                   cute::Stride<cute::_1, cute::Int<kRowThreads>>>;
  using CopyValues = cute::Layout<cute::Shape<cute::_4, cute::_1>>;
};

// tf32 tensor cores for fp32 operands, each K-major or MN-major, only where the layer allows
// tf32 (TileGemm::allow_tf32): the forward's expert GEMMs (both K-major) and the backward's
// (dy·W2, dz·W1: B N-major; the weight gradients: both MN-major). The operands are fp32 in
// memory and tf32 to the MMA (same 32 bits: no conversion pass; the tensor core ignores the low
// 13 mantissa bits). 128 × 64 × 16 block tiles, 2 × 2 warps of m16n8k8.
template <Major kA, Major kB>
struct Sm80Tf32 {
  using T = cute::tfloat32_t;
  static constexpr Major kMajorA = kA, kMajorB = kB;
  static constexpr int kBlockM = 128, kBlockN = 64, kBlockK = 16;
  using TiledMma = cute::TiledMMA<cute::MMA_Atom<cute::SM80_16x8x8_F32TF32TF32F32_TN>,
                                  cute::Layout<cute::Shape<cute::_2, cute::_2, cute::_1>>,
                                  cute::Tile<cute::_32, cute::_32, cute::_8>>;
  using OperandA = Sm80Tf32Operand<kA, kBlockM, kBlockK>;
  using OperandB = Sm80Tf32Operand<kB, kBlockN, kBlockK>;
  using SmemLayoutA = typename OperandA::SmemLayout;
  using SmemLayoutB = typename OperandB::SmemLayout;
  using CopyA = StagingCopy<T, OperandA>;
  using CopyB = StagingCopy<T, OperandB>;
  using S2RAtomA = cute::Copy_Atom<cute::UniversalCopy<T>, T>;
  using S2RAtomB = S2RAtomA;
  static constexpr int kVector = 4;
  static constexpr std::size_t kSmemBytes =
      sizeof(T) * (cute::cosize(SmemLayoutA{}) + cute::cosize(SmemLayoutB{}));
};
using Sm80Tf32TN = Sm80Tf32<Major::k, Major::k>;

// The CPU twin of a device tensor-core configuration (Sm80Half16 or Sm80Tf32, every operand
// layout they take): the same block tile, the same (swizzled or padded) shared-memory layouts and
// the same gmem → smem partitions (16-byte vectors, each a plain 16-byte copy instead of
// cp.async), with the FMA of Simt in place of mma.sync and element copies in place of ldmatrix
// (.trans). It proves on the CPU the staging, swizzle and predication the device runs. T is the
// element type the twin computes in: the device's, except fp32 for the tf32 tile (the twin checks
// the data movement, not tf32 rounding).
template <typename Device, typename T_ = typename Device::T>
struct Sm80Twin {
  using T = T_;
  static constexpr Major kMajorA = Device::kMajorA, kMajorB = Device::kMajorB;
  static constexpr int kBlockM = Device::kBlockM, kBlockN = Device::kBlockN,
                       kBlockK = Device::kBlockK;
  using TiledMma =
      typename Simt<T, float, kMajorA, kMajorB, 128, kBlockM, kBlockN, kBlockK>::TiledMma;
  using SmemLayoutA = typename Device::SmemLayoutA;
  using SmemLayoutB = typename Device::SmemLayoutB;
  using CopyA = TwinStagingCopy<T, typename Device::OperandA>;
  using CopyB = TwinStagingCopy<T, typename Device::OperandB>;
  using S2RAtomA = cute::Copy_Atom<cute::UniversalCopy<T>, T>;
  using S2RAtomB = S2RAtomA;
  static constexpr int kVector = Device::kVector;
  static constexpr std::size_t kSmemBytes = Device::kSmemBytes;
};
template <Major kA, Major kB>
using Sm80Tf32Twin = Sm80Twin<Sm80Tf32<kA, kB>, float>;
using Sm80Tf32TNTwin = Sm80Tf32Twin<Major::k, Major::k>;
template <typename T16, Major kA, Major kB>
using Sm80Half16Twin = Sm80Twin<Sm80Half16<T16, kA, kB>>;
template <typename T16>
using Sm80Half16TNTwin = Sm80Half16Twin<T16, Major::k, Major::k>;
using Sm80Bf16TNTwin = Sm80Half16TNTwin<cute::bfloat16_t>;
using Sm80F16TNTwin = Sm80Half16TNTwin<cute::half_t>;

// Threads of the device's worker group (a thread block): every device configuration's TiledMMA
// has exactly this many.
inline constexpr int kDeviceThreads = 128;
static_assert(cute::size(Sm80Bf16TN::TiledMma{}) == kDeviceThreads);
static_assert(cute::size(Sm80F16TN::TiledMma{}) == kDeviceThreads);
static_assert(cute::size(Sm80Tf32TN::TiledMma{}) == kDeviceThreads);
static_assert(cute::size(Simt<float, float, Major::k, Major::k>::TiledMma{}) == kDeviceThreads);

// The device's SIMT block tile (fp32 without tf32, fp64, and every task the tensor-core
// configurations refuse): 64 × 64 on the block's threads, in K slices of 8 elements — 4 for
// fp64, whose 8-element slices kept so many registers busy in the tile that the persistent
// kernel's backward actors spilled the values they hold across its call (8 B of local memory
// per thread on sm_80, ptxas).
template <typename T>
inline constexpr int kDeviceSimtBlockK = std::is_same_v<T, double> ? 4 : 8;
template <typename In, typename Out, Major kA, Major kB>
using DeviceSimt = Simt<In, Out, kA, kB, kDeviceThreads, 64, 64, kDeviceSimtBlockK<In>>;

// Shared memory the device's block tiles need at most (the persistent kernel's allocation):
// the tf32 tile with two padded MN-major operands (2 × 132 × 16 floats).
inline constexpr std::size_t kDeviceSmemBytes = Sm80Tf32<Major::mn, Major::mn>::kSmemBytes;
static_assert(Sm80Bf16TN::kSmemBytes <= kDeviceSmemBytes);
static_assert(Sm80Tf32<Major::k, Major::mn>::kSmemBytes <= kDeviceSmemBytes);
static_assert(DeviceSimt<double, double, Major::mn, Major::mn>::kSmemBytes <= kDeviceSmemBytes);
static_assert(DeviceSimt<float, float, Major::mn, Major::mn>::kSmemBytes <= kDeviceSmemBytes);

// Whether a tensor-core configuration takes the task: its operand layouts are the task's, each
// operand's contiguous extent and leading dimension are whole copy vectors (a vector never
// straddles an edge, so the per-vector predicate of block_gemm is exact), and both operands are
// 16-byte aligned.
template <typename Config, typename In, typename Out>
CUTE_HOST_DEVICE bool tensor_core_fits(const portable::TileGemm<In, Out>& t) {
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  constexpr bool a_k = Config::kMajorA == Major::k, b_k = Config::kMajorB == Major::k;
  constexpr int v = Config::kVector;
  if (t.trans_a == a_k || t.trans_b != b_k) return false;  // A is K-major unless transposed
  const std::int64_t a_extent = a_k ? t.k : t.m, b_extent = b_k ? t.k : t.n;
  return a_extent % v == 0 && b_extent % v == 0 && t.lda % v == 0 && t.ldb % v == 0 &&
         aligned(t.a) && aligned(t.b);
}

// The device's tile GEMM: the audited switch. Collective over the block (128 threads); the
// epilogue (block_gemm.hpp: StoreC, StoreCAndActivate) is whatever the caller fuses.
template <typename Group, typename In, typename Out, typename Epilogue>
CUTE_DEVICE void device_tile_gemm(const Group& g, const portable::TileGemm<In, Out>& t, void* smem,
                                  const Epilogue& epilogue) {
  using CIn = cute_type<In>;
  const auto& c = reinterpret_cast<const portable::TileGemm<CIn, Out>&>(t);
  if constexpr (std::is_same_v<In, bfloat16> || std::is_same_v<In, float16>) {
    using KK = Sm80Half16<CIn, Major::k, Major::k>;
    using KN = Sm80Half16<CIn, Major::k, Major::mn>;
    using NN = Sm80Half16<CIn, Major::mn, Major::mn>;
    if (tensor_core_fits<KK>(t)) return block_gemm<KK>(g, c, smem, epilogue);
    if (tensor_core_fits<KN>(t)) return block_gemm<KN>(g, c, smem, epilogue);
    if (tensor_core_fits<NN>(t)) return block_gemm<NN>(g, c, smem, epilogue);
  }
  if constexpr (std::is_same_v<In, float>) {
    using KK = Sm80Tf32<Major::k, Major::k>;
    using KN = Sm80Tf32<Major::k, Major::mn>;
    using NN = Sm80Tf32<Major::mn, Major::mn>;
    const auto& tf32 = reinterpret_cast<const portable::TileGemm<cute::tfloat32_t, Out>&>(t);
    if (t.allow_tf32 && tensor_core_fits<KK>(t)) return block_gemm<KK>(g, tf32, smem, epilogue);
    if (t.allow_tf32 && tensor_core_fits<KN>(t)) return block_gemm<KN>(g, tf32, smem, epilogue);
    if (t.allow_tf32 && tensor_core_fits<NN>(t)) return block_gemm<NN>(g, tf32, smem, epilogue);
  }
  if (!t.trans_a && t.trans_b)
    return block_gemm<DeviceSimt<CIn, Out, Major::k, Major::k>>(g, c, smem, epilogue);
  if (!t.trans_a && !t.trans_b)
    return block_gemm<DeviceSimt<CIn, Out, Major::k, Major::mn>>(g, c, smem, epilogue);
  if (t.trans_a && !t.trans_b)
    return block_gemm<DeviceSimt<CIn, Out, Major::mn, Major::mn>>(g, c, smem, epilogue);
  return block_gemm<DeviceSimt<CIn, Out, Major::mn, Major::k>>(g, c, smem, epilogue);
}

}  // namespace flashmoe::tile
