// The tile operations a worker group offers the program: the GEMM with its epilogue and the
// activations of an expert tile. They are COLLECTIVE: every member of the group calls them with
// the same arguments, and on return the result is visible to every member. How the group
// computes them is the platform's business — on the CPU one member calls oneDNN while the others
// wait at the group's barrier, on a GPU the whole thread block runs the MMA — and so is their
// blocking; what the program relies on is that the result is a pure function of the operands
// and the shape, whoever calls it (SPEC §5).
#pragma once

#include <cstdint>

#include "flashmoe/half.hpp"
#include "flashmoe/types.hpp"
#include "math/activation.hpp"

namespace flashmoe::portable {

// C[m, n] (=|+=) op(A)[m, k] · op(B)[k, n] (+ bias[n]). A is stored row-major as [m, k] (lda ≥ k)
// or, when trans_a, as [k, m]; B as [k, n] or, when trans_b, as [n, k] (an nn.Linear weight
// used as x·Wᵀ). In ∈ {double, float, bfloat16}; Out is the accumulation type (double for
// double operands, float otherwise); bias, when given, has Out's type.
template <typename In, typename Out>
struct TileGemm {
  std::int64_t m = 0, n = 0, k = 0;
  const In* a = nullptr;
  std::int64_t lda = 0;
  bool trans_a = false;
  const In* b = nullptr;
  std::int64_t ldb = 0;
  bool trans_b = false;
  Out* c = nullptr;
  std::int64_t ldc = 0;
  bool accumulate = false;
  const Out* bias = nullptr;
  // fp32 operands may go through tf32 tensor cores (10-bit mantissa products, fp32 sums): the
  // layer's allow_tf32, set on the expert GEMMs of the forward and the backward (the gate's stay
  // fp32). A GPU honours it where a tf32 tile fits; the CPU's fp32 GEMMs stay fp32.
  bool allow_tf32 = false;
};

// h[i, c] = act(z[i, c]), or act(z[i, c]) · z[i, up + c] for gated activations, for a
// [rows, cols] tile of pre-activations z (Acc, rows ldz apart) into h (T, rows ldh apart).
template <typename T, typename Acc>
struct TileActivation {
  Activation activation = Activation::gelu;
  bool gated = false;
  std::int64_t rows = 0, cols = 0;
  const Acc* z = nullptr;
  std::int64_t ldz = 0;
  std::int64_t up = 0;  // offset of the up columns from the gate columns (gated only)
  T* h = nullptr;
  std::int64_t ldh = 0;
};

// An expert's up-projection GEMM with its activation fused into the epilogue: z = gemm.c is
// written exactly as `gemm` alone writes it, and from the same final values h[i, c] = act(z[i, c])
// — or act(z[i, c]) · z[i, up + c] when gated, the up columns having been written by an earlier
// GEMM of the same group — in T. A GPU computes h from the accumulators in registers (no second
// pass over z); the CPU runs the GEMM and then the activation over z. Same values either way.
template <typename T, typename Acc>
struct TileGemmActivation {
  TileGemm<T, Acc> gemm;
  Activation activation = Activation::gelu;
  bool gated = false;
  std::int64_t up = 0;  // offset of the up columns from gemm.c's columns (gated only)
  T* h = nullptr;       // [gemm.m, gemm.n], rows ldh apart
  std::int64_t ldh = 0;
};

// The activation half of a TileGemmActivation, as the separate pass over z that it replaces.
template <typename T, typename Acc>
FLASHMOE_HOST_DEVICE inline TileActivation<T, Acc> activation_of(
    const TileGemmActivation<T, Acc>& f) {
  return TileActivation<T, Acc>{f.activation, f.gated,    f.gemm.m, f.gemm.n, f.gemm.c,
                                f.gemm.ldc,   f.up,       f.h,      f.ldh};
}

// One element of h from its pre-activation z (and, gated, its up value): the one formula every
// activation path of the forward uses, so a fused epilogue and a separate pass agree bitwise.
template <typename T, typename Acc>
FLASHMOE_HOST_DEVICE inline T activated_element(Activation activation, bool gated, Acc z,
                                                const Acc* up_value) {
  const Acc activated = math::activate(activation, z);
  return from_float<T>(gated ? activated * *up_value : activated);
}

// dz[i, c] = grad[i, c] · act′(z[i, c]) for a plain activation; gated: dz[i, c] =
// grad · u · act′(g) and dz[i, up + c] = grad · act(g) with g = z[i, c], u = z[i, up + c].
// grad is a row-dense [rows, cols] tile.
template <typename T, typename Acc>
struct TileActivationBackward {
  Activation activation = Activation::gelu;
  bool gated = false;
  std::int64_t rows = 0, cols = 0;
  const Acc* z = nullptr;
  std::int64_t ldz = 0;
  std::int64_t up = 0;
  const Acc* grad = nullptr;
  T* dz = nullptr;
  std::int64_t lddz = 0;
};

// Reference loops of the activations, element by element: element i of the tile (row i / cols,
// column i % cols) for i = first, first + stride, ... A platform calls them with its members'
// shares (a thread block's threads) or alone (first 0, stride 1) where it has no faster kernel.
// Elementwise, so the split changes no bit.
template <typename T, typename Acc>
FLASHMOE_HOST_DEVICE inline void activate_elements(const TileActivation<T, Acc>& a,
                                                   std::int64_t first, std::int64_t stride) {
  for (std::int64_t i = first; i < a.rows * a.cols; i += stride) {
    const Acc* z = a.z + (i / a.cols) * a.ldz + i % a.cols;
    a.h[(i / a.cols) * a.ldh + i % a.cols] =
        activated_element<T>(a.activation, a.gated, z[0], z + a.up);
  }
}

template <typename T, typename Acc>
FLASHMOE_HOST_DEVICE inline void activate_backward_elements(const TileActivationBackward<T, Acc>& a,
                                                            std::int64_t first,
                                                            std::int64_t stride) {
  for (std::int64_t i = first; i < a.rows * a.cols; i += stride) {
    const Acc* z = a.z + (i / a.cols) * a.ldz + i % a.cols;
    T* dz = a.dz + (i / a.cols) * a.lddz + i % a.cols;
    const Acc grad = a.grad[i];
    if (a.gated) {
      dz[0] = from_float<T>(grad * z[a.up] * math::activate_derivative(a.activation, z[0]));
      dz[a.up] = from_float<T>(grad * math::activate(a.activation, z[0]));
    } else {
      dz[0] = from_float<T>(grad * math::activate_derivative(a.activation, z[0]));
    }
  }
}

}  // namespace flashmoe::portable
