// Device fallback of the tile GEMM for the portable runtime: one thread computes the whole tile
// with plain loops (fp32/fp64 accumulation, the operand types of the CPU GEMM). It exists so the
// actors compile and run unchanged inside a persistent kernel; tensor-core tiles (CuTe / mma)
// replace it in the CUDA backend proper.
#pragma once

#include <cstdint>

#include "flashmoe/half.hpp"
#include "flashmoe/macros.hpp"

namespace flashmoe::platform::cuda {

template <typename In, typename Out>
__device__ inline void tile_gemm_serial(std::int64_t m, std::int64_t n, std::int64_t k, const In* a,
                                        std::int64_t lda, bool trans_a, const In* b,
                                        std::int64_t ldb, bool trans_b, Out* c, std::int64_t ldc,
                                        bool accumulate, const Out* bias) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      Out sum = Out(0);
      for (std::int64_t p = 0; p < k; ++p) {
        const In a_value = trans_a ? a[p * lda + i] : a[i * lda + p];
        const In b_value = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        sum += static_cast<Out>(to_float(a_value)) * static_cast<Out>(to_float(b_value));
      }
      if (accumulate) sum += c[i * ldc + j];
      if (bias != nullptr) sum += bias[j];
      c[i * ldc + j] = sum;
    }
  }
}

}  // namespace flashmoe::platform::cuda
