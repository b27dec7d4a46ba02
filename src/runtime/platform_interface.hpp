// The small platform interface the portable actors are written against (DESIGN §3): tile GEMM
// and loud failure. On the host they go to the CPU platform (oneDNN GEMM, exceptions); in
// device code to the CUDA platform (a device GEMM, printf + trap). Atomics come from
// platform/cpu/atomics.hpp, which is libcu++ on both sides when available; the transport is
// the TransportView.
#pragma once

#include <cstdint>

#include "flashmoe/macros.hpp"
#include "platform/cpu/failure.hpp"
#include "platform/cpu/tile_gemm.hpp"

#if defined(__CUDACC__)
#include <cstdio>

#include "platform/cuda/device_tile_gemm.cuh"
#endif

namespace flashmoe::runtime {

// C[m, n] (+)= op(A)[m, k] · op(B)[k, n] (+ bias); In ∈ {double, float, bfloat16}, Out the
// accumulation type.
template <typename In, typename Out>
FLASHMOE_HOST_DEVICE inline void tile_gemm(std::int64_t m, std::int64_t n, std::int64_t k,
                                           const In* a, std::int64_t lda, bool trans_a, const In* b,
                                           std::int64_t ldb, bool trans_b, Out* c, std::int64_t ldc,
                                           bool accumulate, const Out* bias = nullptr) {
#if defined(__CUDA_ARCH__)
  platform::cuda::tile_gemm_serial(m, n, k, a, lda, trans_a, b, ldb, trans_b, c, ldc, accumulate,
                                   bias);
#else
  platform::tile_gemm(m, n, k, a, lda, trans_a, b, ldb, trans_b, c, ldc, accumulate, bias);
#endif
}

FLASHMOE_HOST_DEVICE inline void fail_queue_overflow(int rank, std::uint64_t capacity) {
#if defined(__CUDA_ARCH__)
  printf("flashmoe: rank %d: task queue overflow (capacity %llu)\n", rank,
         static_cast<unsigned long long>(capacity));
  __trap();
#else
  platform::fail_queue_overflow(rank, capacity);
#endif
}

FLASHMOE_HOST_DEVICE inline void fail_packet_mismatch(int rank, int source_rank, int local_expert,
                                                      std::uint64_t forward_rows,
                                                      std::uint64_t gradient_rows) {
#if defined(__CUDA_ARCH__)
  printf(
      "flashmoe: rank %d: dy packet of local expert %d from rank %d has %llu rows, forward "
      "had %llu\n",
      rank, local_expert, source_rank, static_cast<unsigned long long>(gradient_rows),
      static_cast<unsigned long long>(forward_rows));
  __trap();
#else
  platform::fail_packet_mismatch(rank, source_rank, local_expert, forward_rows, gradient_rows);
#endif
}

}  // namespace flashmoe::runtime
