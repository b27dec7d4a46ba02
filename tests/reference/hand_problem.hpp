// Builders of the reference tests' hand-written problems: every tensor spelled out in the test,
// next to the hand computation of its expected outputs.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <utility>

#include "flashmoe/problem.hpp"

namespace flashmoe::test {

// A problem with `world_size` ranks and a zero gate, whose rank inputs the test adds (fp64).
inline Problem empty_problem(const Config& c, int world_size) {
  Problem p;
  p.config = c;
  p.world_size = world_size;
  p.wg = HostTensor::zeros<double>({c.experts, c.hidden});
  return p;
}

// An fp64 tensor of `shape` holding `values` in row-major order (their count must match).
inline HostTensor tensor(Shape shape, std::initializer_list<double> values) {
  HostTensor t = HostTensor::zeros<double>(std::move(shape));
  EXPECT_EQ(static_cast<std::int64_t>(values.size()), t.numel());
  std::int64_t i = 0;
  for (double v : values) t.set(i++, v);
  return t;
}

}  // namespace flashmoe::test
