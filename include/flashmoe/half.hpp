// 16-bit floating types as plain bit containers with exact, portable conversions.
// bfloat16 and float16 round to nearest even on the way down and widen exactly; both are
// trivially copyable 2-byte structs, so buffers of them can be handed to oneDNN or to CUDA
// (__nv_bfloat16 / __half share the bit layout).
#pragma once

#include <bit>
#include <cstdint>

#include "flashmoe/macros.hpp"

namespace flashmoe {

struct bfloat16 {
  std::uint16_t bits = 0;

  FLASHMOE_HOST_DEVICE static constexpr bfloat16 from_bits(std::uint16_t b) {
    bfloat16 v;
    v.bits = b;
    return v;
  }
  FLASHMOE_HOST_DEVICE static bfloat16 from_float(float f) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
      return from_bits(static_cast<std::uint16_t>((u >> 16) | 0x40u));  // quiet NaN
    const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);          // round to nearest even
    return from_bits(static_cast<std::uint16_t>((u + rounding) >> 16));
  }
  FLASHMOE_HOST_DEVICE float to_float() const {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
  }
  FLASHMOE_HOST_DEVICE explicit operator float() const { return to_float(); }
};

struct float16 {
  std::uint16_t bits = 0;

  FLASHMOE_HOST_DEVICE static constexpr float16 from_bits(std::uint16_t b) {
    float16 v;
    v.bits = b;
    return v;
  }
  FLASHMOE_HOST_DEVICE static float16 from_float(float f) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const std::uint32_t sign = (u >> 16) & 0x8000u;
    const std::uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return from_bits(static_cast<std::uint16_t>(sign | 0x7e00u));  // NaN
    if (abs >= 0x477ff000u)
      return from_bits(static_cast<std::uint16_t>(sign | 0x7c00u));  // overflow → inf
    if (abs < 0x38800000u) {  // result is subnormal or zero: scale into the subnormal grid
      const float magnitude = std::bit_cast<float>(abs);
      // 2^-24 is the smallest subnormal: scaling by 2^24 is exact, and the scaled value is
      // rounded half to even to a whole number of subnormal steps (1024 becomes 2^-14, normal).
      const float scaled = magnitude * 16777216.0f;  // / 2^-24
      const std::uint32_t q = static_cast<std::uint32_t>(nearbyint_even(scaled));
      return from_bits(static_cast<std::uint16_t>(sign | q));
    }
    const std::uint32_t rounding = 0xfffu + ((abs >> 13) & 1u);
    const std::uint32_t rebased = abs - (112u << 23);  // exponent bias 127 → 15
    return from_bits(static_cast<std::uint16_t>(sign | ((rebased + rounding) >> 13)));
  }
  FLASHMOE_HOST_DEVICE float to_float() const {
    const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
    const std::uint32_t exponent = (bits >> 10) & 0x1fu;
    const std::uint32_t mantissa = bits & 0x3ffu;
    if (exponent == 0) {  // zero or subnormal: mantissa · 2^-24
      const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
      return std::bit_cast<float>(std::bit_cast<std::uint32_t>(magnitude) | sign);
    }
    if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
    return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  }
  FLASHMOE_HOST_DEVICE explicit operator float() const { return to_float(); }

 private:
  // Round half to even for values in [0, 2^10], without depending on the FP environment.
  FLASHMOE_HOST_DEVICE static float nearbyint_even(float v) {
    const float floor_v = static_cast<float>(static_cast<std::uint32_t>(v));
    const float fraction = v - floor_v;
    if (fraction > 0.5f) return floor_v + 1.0f;
    if (fraction < 0.5f) return floor_v;
    return (static_cast<std::uint32_t>(floor_v) & 1u) ? floor_v + 1.0f : floor_v;
  }
};

static_assert(sizeof(bfloat16) == 2 && sizeof(float16) == 2);

// Uniform conversions used by templated code: to_float/from_float over every storage type.
FLASHMOE_HOST_DEVICE inline float to_float(float v) {
  return v;
}
FLASHMOE_HOST_DEVICE inline double to_float(double v) {
  return v;
}
FLASHMOE_HOST_DEVICE inline float to_float(bfloat16 v) {
  return v.to_float();
}
FLASHMOE_HOST_DEVICE inline float to_float(float16 v) {
  return v.to_float();
}

// double → float rounded to odd: truncate, then set the last mantissa bit when inexact. A float
// has at least 13 more significand bits than bfloat16/float16, so rounding this to nearest even
// gives the correctly rounded result of the double; plain double → float → 16-bit rounds twice
// and can miss (1 + 2⁻⁸ + 2⁻³⁰ would become bfloat16 1.0 instead of 1 + 2⁻⁷).
FLASHMOE_HOST_DEVICE inline float round_to_odd_float(double v) {
  const float nearest = static_cast<float>(v);
  const double back = static_cast<double>(nearest);
  if (back == v || v != v) return nearest;  // exact, or NaN
  std::uint32_t bits = std::bit_cast<std::uint32_t>(nearest);
  if ((back < 0 ? -back : back) > (v < 0 ? -v : v)) bits -= 1;  // rounded away: step toward 0
  return std::bit_cast<float>(bits | 1u);
}

template <typename T>
FLASHMOE_HOST_DEVICE inline T from_float(double v) {
  if constexpr (requires { T::from_float(0.0f); }) {
    return T::from_float(round_to_odd_float(v));
  } else {
    return static_cast<T>(v);
  }
}

}  // namespace flashmoe
