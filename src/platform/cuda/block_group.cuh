// The GPU's worker group (portable/group.hpp): one thread block. sync() is __syncthreads();
// broadcast goes through a slot of the block's shared memory; the tile operations are run by
// the whole block. This is the first, simple device tile: every thread computes its share of
// the output elements (strided), each element one running sum over k in ascending order, so
// the result does not depend on the block size. Tensor-core tiles (CuTe, mma.sync / wgmma)
// replace it in the CUDA backend; the group interface stays.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "flashmoe/half.hpp"
#include "flashmoe/macros.hpp"
#include "portable/atomics.hpp"
#include "portable/tile_ops.hpp"

namespace flashmoe::cuda {

class BlockGroup {
 public:
  static constexpr std::size_t kSlotBytes = 128;
  // `slot`: kSlotBytes of the block's shared memory.
  __device__ explicit BlockGroup(std::byte* slot) : slot_(slot) {}

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
    for (std::int64_t e = threadIdx.x; e < t.m * t.n; e += blockDim.x) {
      const std::int64_t i = e / t.n, j = e % t.n;
      Out sum = Out(0);
      for (std::int64_t p = 0; p < t.k; ++p) {
        const In a = t.trans_a ? t.a[p * t.lda + i] : t.a[i * t.lda + p];
        const In b = t.trans_b ? t.b[j * t.ldb + p] : t.b[p * t.ldb + j];
        sum += static_cast<Out>(to_float(a)) * static_cast<Out>(to_float(b));
      }
      if (t.accumulate) sum += t.c[i * t.ldc + j];
      if (t.bias != nullptr) sum += t.bias[j];
      t.c[i * t.ldc + j] = sum;
    }
    __syncthreads();
  }

  template <typename T, typename Acc>
  __device__ void activate(const portable::TileActivation<T, Acc>& a) const {
    __syncthreads();
    portable::activate_elements(a, threadIdx.x, blockDim.x);
    __syncthreads();
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
};

}  // namespace flashmoe::cuda
