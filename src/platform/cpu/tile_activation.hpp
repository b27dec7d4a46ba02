// The activations of an expert tile on the CPU (portable/tile_ops.hpp), on the calling thread:
// fp32-accumulating tiles go through oneDNN's vectorised eltwise kernels (gemm.hpp: scalar libm
// erf/exp would cost about as much as the GEMM before them), fp64 tiles through the portable
// element loop. Used by the CPU worker group's collective tile operations and by the
// bulk-synchronous baseline, so both run the same kernels.
#pragma once

#include <type_traits>

#include "flashmoe/half.hpp"
#include "flashmoe/tensor.hpp"
#include "platform/cpu/gemm.hpp"
#include "portable/tile_ops.hpp"

namespace flashmoe::cpu {

template <typename T, typename Acc>
inline void activate_tile(const portable::TileActivation<T, Acc>& a) {
  if (a.rows == 0 || a.cols == 0) return;
  if constexpr (std::is_same_v<Acc, float> &&
                (std::is_same_v<T, float> || std::is_same_v<T, bfloat16>)) {
    if (a.gated)
      activate_gated(a.activation, a.rows, a.cols, a.z, a.ldz, a.up, a.h, element_type_of<T>(),
                     a.ldh);
    else
      activate(a.activation, a.rows, a.cols, a.z, a.ldz, a.h, element_type_of<T>(), a.ldh);
  } else {
    portable::activate_elements(a, 0, 1);
  }
}

template <typename T, typename Acc>
inline void activate_tile_backward(const portable::TileActivationBackward<T, Acc>& a) {
  if (a.rows == 0 || a.cols == 0) return;
  if constexpr (std::is_same_v<Acc, float> &&
                (std::is_same_v<T, float> || std::is_same_v<T, bfloat16>)) {
    if (a.gated)
      activate_gated_backward(a.activation, a.rows, a.cols, a.z, a.ldz, a.up, a.grad, a.dz,
                              element_type_of<T>(), a.lddz);
    else
      activate_backward(a.activation, a.rows, a.cols, a.z, a.ldz, a.grad, a.dz,
                        element_type_of<T>(), a.lddz);
  } else {
    portable::activate_backward_elements(a, 0, 1);
  }
}

}  // namespace flashmoe::cpu
