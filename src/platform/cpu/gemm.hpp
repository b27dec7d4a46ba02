// Tile GEMM on the CPU: C[m, n] (=|+=) op(A)[m, k] · op(B)[k, n], then optional bias and
// elementwise activation. One call runs on the calling thread only (engine workers are the
// parallelism), and the result is a pure function of the operands and shapes: no dependence
// on timing or on how many threads exist (SPEC §5).
#pragma once

#include <cstdint>
#include <optional>

#include "flashmoe/types.hpp"
#include "platform/cpu/gemm_paths.hpp"

namespace flashmoe::cpu {

struct GemmArgs {
  std::int64_t m = 0, n = 0, k = 0;
  // A is stored row-major as [m, k] (lda ≥ k), or as [k, m] (lda ≥ m) when trans_a.
  const void* a = nullptr;
  ElementType a_type = ElementType::f32;
  std::int64_t lda = 0;
  bool trans_a = false;
  // B is stored row-major as [k, n] (ldb ≥ n), or as [n, k] (ldb ≥ k) when trans_b; the
  // nn.Linear weight [out, in] used as x·Wᵀ is trans_b = true.
  const void* b = nullptr;
  ElementType b_type = ElementType::f32;
  std::int64_t ldb = 0;
  bool trans_b = false;
  // C is row-major [m, n] (ldc ≥ n). Accumulation is fp32 (fp64 when A and B are f64).
  void* c = nullptr;
  ElementType c_type = ElementType::f32;
  std::int64_t ldc = 0;
  bool accumulate = false;  // C += op(A)·op(B) instead of C = op(A)·op(B)
  // Epilogue, applied to the fresh product (+ C when accumulating) in this order.
  const void* bias = nullptr;            // [n], of c_type's accumulation precision (f32, or f64)
  std::optional<Activation> activation;  // plain activations only; gated ones are composed
};

// A, B ∈ {f64, f32, bf16} with a_type == b_type; C ∈ {f64, f32, bf16}; f64 only with f64.
// Throws flashmoe::Error naming the argument for unsupported combinations.
// Runs on the process's path for the operand type and layout (gemm_paths.hpp).
void gemm(const GemmArgs& args);
// The same on a given route (onednn, onednn_widened — which needs bf16 operands to widen —,
// openblas or openblas_widened; f64 operands and k = 0 always take the plain loop): for the
// benchmark's per-library ceiling and for tests that compare the libraries. Throws for a
// library that cannot run here.
void gemm_on(GemmRoute route, const GemmArgs& args);

// dst[i, j] = act(src[i, j]) for an f32 [rows, cols] matrix (row stride src_ld) into dst of
// dst_type f32 or bf16 (row stride dst_ld; bf16 rounded to nearest even), on the calling thread
// through oneDNN's vectorised eltwise kernels: the scalar libm erf/exp of math::activate cost
// about as much as the GEMM that produced src. A pure function of the inputs and the shape
// (deterministic); it agrees with math::activate to a few fp32 ulps relative, and ~1e-6
// absolute in saturated tails (oneDNN's polynomial approximations), not bitwise. Plain
// activations only; the matrices must not overlap.
void activate(Activation act, std::int64_t rows, std::int64_t cols, const float* src,
              std::int64_t src_ld, void* dst, ElementType dst_type, std::int64_t dst_ld);

// dst[i, j] = grad[i, j] · act′(src[i, j]): the same kernel family's derivative, with grad a
// row-dense f32 [rows, cols] matrix; otherwise as activate().
void activate_backward(Activation act, std::int64_t rows, std::int64_t cols, const float* src,
                       std::int64_t src_ld, const float* grad, void* dst, ElementType dst_type,
                       std::int64_t dst_ld);

// Gated activations (swiglu, geglu) of a [rows, cols] tile whose gate columns g start at z and
// up columns u at z + up (rows ldz apart), with the same kernels: dst = act(g) · u ...
void activate_gated(Activation act, std::int64_t rows, std::int64_t cols, const float* z,
                    std::int64_t ldz, std::int64_t up, void* dst, ElementType dst_type,
                    std::int64_t dst_ld);
// ... and, for grad a row-dense [rows, cols] matrix, dst[:, c] = grad · u · act′(g) (gate
// columns) and dst[:, up + c] = grad · act(g) (up columns).
void activate_gated_backward(Activation act, std::int64_t rows, std::int64_t cols, const float* z,
                             std::int64_t ldz, std::int64_t up, const float* grad, void* dst,
                             ElementType dst_type, std::int64_t dst_ld);

}  // namespace flashmoe::cpu
