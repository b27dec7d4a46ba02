// The GPU's worker group (portable/group.hpp): one thread block of tile::kDeviceThreads (128)
// threads. sync() is __syncthreads(); broadcast goes through a slot of the block's shared
// memory; the tile GEMM is the CuTe block tile (tile/tile_configs.hpp: bf16 on tensor cores
// where the operands allow, the SIMT configuration of the same template otherwise), staged in
// the block's shared memory, with the forward's activation fused into its epilogue; the
// backward's activation is the portable element loop, strided over the block's threads.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "flashmoe/half.hpp"
#include "flashmoe/macros.hpp"
#include "portable/atomics.hpp"
#include "portable/tile_ops.hpp"
#include "tile/tile_configs.hpp"

namespace flashmoe::cuda {

class BlockGroup {
 public:
  static constexpr std::size_t kSlotBytes = 128;
  // `slot`: kSlotBytes of the block's shared memory; `tile_smem`: tile::kDeviceSmemBytes.
  __device__ BlockGroup(std::byte* slot, void* tile_smem) : slot_(slot), tile_smem_(tile_smem) {}

  __device__ int size() const { return static_cast<int>(blockDim.x); }
  __device__ int rank() const { return static_cast<int>(threadIdx.x); }
  __device__ bool leader() const { return threadIdx.x == 0; }
  __device__ void sync() const { __syncthreads(); }

  template <typename U>
  __device__ U broadcast(const U& value) const {
    static_assert(std::is_trivially_copyable_v<U> && sizeof(U) <= kSlotBytes);
    if (leader()) memcpy(slot_, &value, sizeof(U));
    __syncthreads();
    U out;
    memcpy(&out, slot_, sizeof(U));
    __syncthreads();
    return out;
  }

  template <typename In, typename Out>
  __device__ void gemm(const portable::TileGemm<In, Out>& t) const {
    __syncthreads();
    if (t.m > 0 && t.n > 0)
      tile::device_tile_gemm(*this, t, tile_smem_, tile::StoreC<Out>{t.c, t.ldc, t.accumulate});
  }

  // The activation is the GEMM's epilogue (tile::StoreCAndActivate): each thread writes h from
  // the z it has just stored, with no second pass of the block over the tile.
  template <typename T, typename Acc>
  __device__ void gemm_activate(const portable::TileGemmActivation<T, Acc>& f) const {
    const portable::TileGemm<T, Acc>& t = f.gemm;
    __syncthreads();
    if (t.m > 0 && t.n > 0)
      tile::device_tile_gemm(*this, t, tile_smem_,
                             tile::StoreCAndActivate<T, Acc>{{t.c, t.ldc, t.accumulate},
                                                             f.activation, f.gated, f.up, f.h,
                                                             f.ldh});
  }

  template <typename T, typename Acc>
  __device__ void activate_backward(const portable::TileActivationBackward<T, Acc>& a) const {
    __syncthreads();
    portable::activate_backward_elements(a, threadIdx.x, blockDim.x);
    __syncthreads();
  }

  __device__ std::int64_t now_ns() const {
    std::uint64_t t = 0;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return static_cast<std::int64_t>(t);
  }
  // Exponential back-off up to ~1 µs: a polling block must not flood the memory system.
  __device__ void idle(int attempt) const { __nanosleep(attempt < 10 ? 32u << attempt : 1024u); }
  // The pass-completion word the host reads (host-mapped memory on the GPU).
  __device__ void publish(std::uint64_t& word, std::uint64_t value) const {
    portable::store_release<portable::Scope::system>(word, value);
  }

 private:
  std::byte* slot_;
  void* tile_smem_;
};

}  // namespace flashmoe::cuda
