// Typed front of the CPU tile GEMM (gemm.hpp) for the runtime's actors:
// C[m, n] (+)= op(A)[m, k] · op(B)[k, n] (+ bias), one call on the calling thread.
#pragma once

#include <cstdint>

#include "flashmoe/tensor.hpp"
#include "platform/cpu/gemm.hpp"

namespace flashmoe::platform {

// GemmArgs for C[m, n] = op(A)·op(B) with the element types taken from the pointers; callers
// set accumulate, bias and activation on the result as they need.
template <typename In, typename Out>
inline cpu::GemmArgs gemm_args(std::int64_t m, std::int64_t n, std::int64_t k, const In* a,
                               std::int64_t lda, bool trans_a, const In* b, std::int64_t ldb,
                               bool trans_b, Out* c, std::int64_t ldc) {
  cpu::GemmArgs args;
  args.m = m;
  args.n = n;
  args.k = k;
  args.a = a;
  args.a_type = element_type_of<In>();
  args.lda = lda;
  args.trans_a = trans_a;
  args.b = b;
  args.b_type = element_type_of<In>();
  args.ldb = ldb;
  args.trans_b = trans_b;
  args.c = c;
  args.c_type = element_type_of<Out>();
  args.ldc = ldc;
  return args;
}

template <typename In, typename Out>
inline void tile_gemm(std::int64_t m, std::int64_t n, std::int64_t k, const In* a, std::int64_t lda,
                      bool trans_a, const In* b, std::int64_t ldb, bool trans_b, Out* c,
                      std::int64_t ldc, bool accumulate, const Out* bias = nullptr) {
  if (m == 0 || n == 0) return;
  cpu::GemmArgs args = gemm_args(m, n, k, a, lda, trans_a, b, ldb, trans_b, c, ldc);
  args.accumulate = accumulate;
  args.bias = bias;
  cpu::gemm(args);
}

// h = act(z) for a [rows, cols] fp32 tile into T ∈ {float, bfloat16} (gemm.hpp's activate).
template <typename T>
inline void activate_tile(Activation act, std::int64_t rows, std::int64_t cols, const float* z,
                          std::int64_t ldz, T* h, std::int64_t ldh) {
  cpu::activate(act, rows, cols, z, ldz, h, element_type_of<T>(), ldh);
}

// h = act(g) · u for a gated [rows, cols] fp32 tile (g at z, u at z + up) into T.
template <typename T>
inline void activate_gated_tile(Activation act, std::int64_t rows, std::int64_t cols,
                                const float* z, std::int64_t ldz, std::int64_t up, T* h,
                                std::int64_t ldh) {
  cpu::activate_gated(act, rows, cols, z, ldz, up, h, element_type_of<T>(), ldh);
}

// dz of a gated tile (gate columns at dz, up columns at dz + up; gemm.hpp) into T.
template <typename T>
inline void activate_gated_backward_tile(Activation act, std::int64_t rows, std::int64_t cols,
                                         const float* z, std::int64_t ldz, std::int64_t up,
                                         const float* grad, T* dz, std::int64_t lddz) {
  cpu::activate_gated_backward(act, rows, cols, z, ldz, up, grad, dz, element_type_of<T>(), lddz);
}

// dz = grad · act′(z) for a [rows, cols] fp32 tile (grad row-dense) into T ∈ {float, bfloat16}.
template <typename T>
inline void activate_backward_tile(Activation act, std::int64_t rows, std::int64_t cols,
                                   const float* z, std::int64_t ldz, const float* grad, T* dz,
                                   std::int64_t lddz) {
  cpu::activate_backward(act, rows, cols, z, ldz, grad, dz, element_type_of<T>(), lddz);
}

}  // namespace flashmoe::platform
