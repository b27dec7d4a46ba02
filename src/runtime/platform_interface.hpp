// The small platform interface the portable actors are written against (DESIGN §3): tile GEMM
// and loud failure. On the host they go to the CPU platform (oneDNN GEMM, exceptions); in
// device code to the CUDA platform (a device GEMM, printf + trap). Atomics come from
// platform/cpu/atomics.hpp, which is libcu++ on both sides when available; the transport is
// the TransportView.
#pragma once

#include <cstdint>

#include <type_traits>

#include "flashmoe/macros.hpp"
#include "math/activation.hpp"
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

// h[i, c] = act(z[i, c]), or act(z[i, c]) · z[i, P + c] for gated activations (`up` = z + P),
// for a [rows, cols] tile; z rows are ldz apart, h rows ldh apart. On the host an fp32 tile goes
// through the CPU platform's vectorised kernels (scalar libm erf/exp would cost about as much as
// the GEMM before it); fp64 tiles and the device run this loop.
// Either way the result is a function of the tile's values alone, whoever runs it.
template <typename T, typename Acc>
FLASHMOE_HOST_DEVICE inline void activate_tile(Activation act, bool gated, std::int64_t rows,
                                               std::int64_t cols, const Acc* z, std::int64_t ldz,
                                               T* h, std::int64_t ldh, std::int64_t up) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<Acc, float> &&
                (std::is_same_v<T, float> || std::is_same_v<T, bfloat16>)) {
    if (gated)
      platform::activate_gated_tile(act, rows, cols, z, ldz, up, h, ldh);
    else
      platform::activate_tile(act, rows, cols, z, ldz, h, ldh);
    return;
  }
#endif
  for (std::int64_t i = 0; i < rows; ++i) {
    const Acc* z_i = z + i * ldz;
    T* h_i = h + i * ldh;
    for (std::int64_t c = 0; c < cols; ++c) {
      const Acc activated = math::activate(act, z_i[c]);
      h_i[c] = from_float<T>(gated ? activated * z_i[up + c] : activated);
    }
  }
}

// dz[i, c] = grad[i, c] · act′(z[i, c]) for a plain activation; gated ones: dz[i, c] =
// grad · u · act′(g) and dz[i, up + c] = grad · act(g) with g = z[i, c], u = z[i, up + c].
// grad is a row-dense [rows, cols] tile; z rows are ldz apart, dz rows lddz apart. The host
// routes fp32 tiles to the CPU platform's vectorised kernels, as activate_tile does.
template <typename T, typename Acc>
FLASHMOE_HOST_DEVICE inline void activate_backward_tile(Activation act, bool gated,
                                                        std::int64_t rows, std::int64_t cols,
                                                        const Acc* z, std::int64_t ldz,
                                                        const Acc* grad, T* dz, std::int64_t lddz,
                                                        std::int64_t up) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<Acc, float> &&
                (std::is_same_v<T, float> || std::is_same_v<T, bfloat16>)) {
    if (gated)
      platform::activate_gated_backward_tile(act, rows, cols, z, ldz, up, grad, dz, lddz);
    else
      platform::activate_backward_tile(act, rows, cols, z, ldz, grad, dz, lddz);
    return;
  }
#endif
  for (std::int64_t i = 0; i < rows; ++i) {
    const Acc* z_i = z + i * ldz;
    T* dz_i = dz + i * lddz;
    for (std::int64_t c = 0; c < cols; ++c) {
      const Acc g = grad[i * cols + c];
      if (gated) {
        dz_i[c] = from_float<T>(g * z_i[up + c] * math::activate_derivative(act, z_i[c]));
        dz_i[up + c] = from_float<T>(g * math::activate(act, z_i[c]));
      } else {
        dz_i[c] = from_float<T>(g * math::activate_derivative(act, z_i[c]));
      }
    }
  }
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
