// Small helpers shared by the reference tests.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "flashmoe/error.hpp"
#include "flashmoe/problem.hpp"

namespace flashmoe::test {

// The message of the flashmoe::Error thrown by f (fails the test when none is thrown).
template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no flashmoe::Error thrown";
  return {};
}

inline void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

// The tiny layer the gradient checks use: H = 6, P = 5, E = 4, k = 2, fp64.
inline Config tiny_config(Activation activation = Activation::gelu) {
  Config c;
  c.hidden = 6;
  c.ffn = 5;
  c.experts = 4;
  c.top_k = 2;
  c.activation = activation;
  c.dtype = DType::fp64;
  c.max_tokens = 64;
  return c;
}

// ‖a − b‖₂ / ‖b‖₂ (SPEC §4), element values widened to double.
inline double relative_l2(const HostTensor& a, const HostTensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double diff = 0.0, norm = 0.0;
  for (std::int64_t i = 0; i < b.numel(); ++i) {
    diff += (a.get(i) - b.get(i)) * (a.get(i) - b.get(i));
    norm += b.get(i) * b.get(i);
  }
  return std::sqrt(diff) / std::sqrt(norm);
}

inline bool bitwise_equal(const HostTensor& a, const HostTensor& b) {
  if (a.type() != b.type() || a.shape() != b.shape()) return false;
  for (std::int64_t i = 0; i < a.numel(); ++i)
    if (std::bit_cast<std::uint64_t>(a.get(i)) != std::bit_cast<std::uint64_t>(b.get(i)))
      return false;
  return true;
}

inline bool all_zero(const HostTensor& t) {
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (t.get(i) != 0.0) return false;
  return true;
}

// A problem whose tensors are all given by hand (fp64, one rank unless ranks are added).
inline Problem empty_problem(const Config& c, int world_size) {
  Problem p;
  p.config = c;
  p.world_size = world_size;
  p.wg = HostTensor::zeros<double>({c.experts, c.hidden});
  return p;
}

inline HostTensor tensor(Shape shape, std::initializer_list<double> values) {
  HostTensor t = HostTensor::zeros<double>(std::move(shape));
  EXPECT_EQ(static_cast<std::int64_t>(values.size()), t.numel());
  std::int64_t i = 0;
  for (double v : values) t.set(i++, v);
  return t;
}

}  // namespace flashmoe::test
