// Comparisons of HostTensors: bit for bit (determinism, replays, round trips), by relative L2
// error (SPEC §4's accuracy measure), and against zero.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "flashmoe/tensor.hpp"

namespace flashmoe::test {

// Same element type, same shape and the same bytes: stricter than equal values (it tells
// −0 from +0 and one NaN from another).
inline bool bitwise_equal(const HostTensor& a, const HostTensor& b) {
  return a.type() == b.type() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

// ‖a − b‖₂ / ‖b‖₂ with values widened to double; ‖a − b‖₂ when b is zero (so two zero tensors
// give 0). Tensors of different shapes fail the test and give infinity.
inline double relative_l2(const HostTensor& a, const HostTensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return std::numeric_limits<double>::infinity();
  double diff = 0.0, norm = 0.0;
  for (std::int64_t i = 0; i < b.numel(); ++i) {
    const double d = a.get(i) - b.get(i);
    diff += d * d;
    norm += b.get(i) * b.get(i);
  }
  if (norm == 0.0) return std::sqrt(diff);
  return std::sqrt(diff / norm);
}

inline bool all_zero(const HostTensor& t) {
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (t.get(i) != 0.0) return false;
  return true;
}

}  // namespace flashmoe::test
