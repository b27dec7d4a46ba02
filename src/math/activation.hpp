// Activations and their exact derivatives (SPEC §2.6, §3). Pure host-device functions used by
// the reference, the CPU engine and the CUDA kernel alike. T is float or double.
#pragma once

#include <cmath>

#include "flashmoe/macros.hpp"
#include "flashmoe/types.hpp"

namespace flashmoe::math {

template <typename T>
FLASHMOE_HOST_DEVICE inline T sigmoid(T z) {
  return T(1) / (T(1) + std::exp(-z));
}

// gelu (erf form): z · Φ(z), Φ(z) = (1 + erf(z/√2)) / 2.
template <typename T>
FLASHMOE_HOST_DEVICE inline T gelu(T z) {
  constexpr T inv_sqrt2 = T(0.70710678118654752440);
  return T(0.5) * z * (T(1) + std::erf(z * inv_sqrt2));
}
// d/dz [z Φ(z)] = Φ(z) + z φ(z), φ(z) = exp(−z²/2)/√(2π).
template <typename T>
FLASHMOE_HOST_DEVICE inline T gelu_derivative(T z) {
  constexpr T inv_sqrt2 = T(0.70710678118654752440);
  constexpr T inv_sqrt_2pi = T(0.39894228040143267794);
  return T(0.5) * (T(1) + std::erf(z * inv_sqrt2)) + z * inv_sqrt_2pi * std::exp(T(-0.5) * z * z);
}

// gelu_tanh: z/2 · (1 + tanh(u)), u = √(2/π)(z + 0.044715 z³).
template <typename T>
FLASHMOE_HOST_DEVICE inline T gelu_tanh(T z) {
  constexpr T c = T(0.79788456080286535588);  // √(2/π)
  const T u = c * (z + T(0.044715) * z * z * z);
  return T(0.5) * z * (T(1) + std::tanh(u));
}
// d/dz = ½(1 + tanh u) + ½ z (1 − tanh² u) · √(2/π)(1 + 3·0.044715 z²).
template <typename T>
FLASHMOE_HOST_DEVICE inline T gelu_tanh_derivative(T z) {
  constexpr T c = T(0.79788456080286535588);
  const T u = c * (z + T(0.044715) * z * z * z);
  const T t = std::tanh(u);
  return T(0.5) * (T(1) + t) + T(0.5) * z * (T(1) - t * t) * c * (T(1) + T(3 * 0.044715) * z * z);
}

template <typename T>
FLASHMOE_HOST_DEVICE inline T silu(T z) {
  return z * sigmoid(z);
}
// σ(z)(1 + z(1 − σ(z))).
template <typename T>
FLASHMOE_HOST_DEVICE inline T silu_derivative(T z) {
  const T s = sigmoid(z);
  return s * (T(1) + z * (T(1) - s));
}

// The elementwise function applied to the (gate) pre-activation. For gated activations this is
// the gate's nonlinearity (swiglu → silu, geglu → gelu); the product with u is done by callers.
template <typename T>
FLASHMOE_HOST_DEVICE inline T activate(Activation a, T z) {
  switch (a) {
    case Activation::relu:
      return z > T(0) ? z : T(0);
    case Activation::gelu:
      return gelu(z);
    case Activation::gelu_tanh:
      return gelu_tanh(z);
    case Activation::silu:
      return silu(z);
    case Activation::identity:
      return z;
    case Activation::swiglu:
      return silu(z);
    case Activation::geglu:
      return gelu(z);
  }
  return z;  // unreachable: Activation is validated at configuration time
}

// act′(z); relu′(0) = 0 as SPEC §3 states ([z > 0]).
template <typename T>
FLASHMOE_HOST_DEVICE inline T activate_derivative(Activation a, T z) {
  switch (a) {
    case Activation::relu:
      return z > T(0) ? T(1) : T(0);
    case Activation::gelu:
      return gelu_derivative(z);
    case Activation::gelu_tanh:
      return gelu_tanh_derivative(z);
    case Activation::silu:
      return silu_derivative(z);
    case Activation::identity:
      return T(1);
    case Activation::swiglu:
      return silu_derivative(z);
    case Activation::geglu:
      return gelu_derivative(z);
  }
  return T(1);  // unreachable
}

}  // namespace flashmoe::math
