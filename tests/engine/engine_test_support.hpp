// Shared helpers of the engine tests: problem construction, the reference comparison with the
// engine's routing replayed (SPEC §4), and bitwise comparison of two results.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "flashmoe/problem.hpp"
#include "reference/reference.hpp"
#include "runtime/engine.hpp"

namespace flashmoe::engine_test {

// A small configuration (H, P, E, k chosen per test); wait timeout short enough that a hang
// fails the test quickly, long enough for sanitizer builds.
inline Config small_config(DType dtype, Activation activation, std::int64_t experts,
                           std::int64_t top_k) {
  Config c;
  c.hidden = 32;
  c.ffn = 48;
  c.experts = experts;
  c.top_k = top_k;
  c.dtype = dtype;
  c.activation = activation;
  c.max_tokens = 129;
  c.wait_timeout_s = 60.0;
  return c;
}

// Small tiles so that the test shapes span several row and column tiles of every task kind.
inline engine::EngineOptions small_tiles(int workers) {
  engine::EngineOptions options;
  options.workers_per_rank = workers;
  options.tiles = {16, 16, 16, 16};
  return options;
}

// ‖a − b‖₂ / ‖b‖₂ (0 when both are empty or b is zero and a equals it).
inline double relative_l2(const HostTensor& a, const HostTensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double diff = 0.0, norm = 0.0;
  for (std::int64_t i = 0; i < b.numel(); ++i) {
    const double d = a.get(i) - b.get(i);
    diff += d * d;
    norm += b.get(i) * b.get(i);
  }
  if (norm == 0.0) return std::sqrt(diff);
  return std::sqrt(diff / norm);
}

inline double tolerance(DType dtype) {
  switch (dtype) {
    case DType::fp64:
      return 1e-12;
    case DType::fp32:
      return 1e-5;
    default:
      return 2e-2;
  }
}

inline RoutingOverride routing_of(const Results& results) {
  RoutingOverride routing;
  for (const RankOutputs& rank : results.ranks) {
    routing.topk_index.push_back(rank.routing.topk_index);
    routing.kept.push_back(rank.routing.kept);
  }
  return routing;
}

// Every tensor of the engine's results against the fp64 reference run on the engine's routing.
inline void expect_matches_reference(const Problem& problem, const Results& engine_results,
                                     const std::string& what) {
  const RoutingOverride routing = routing_of(engine_results);
  const Results expected = reference::run(problem, reference::Precision::fp64, &routing);
  const double tol = tolerance(problem.config.dtype);
  for (std::size_t r = 0; r < expected.ranks.size(); ++r) {
    const RankOutputs& e = expected.ranks[r];
    const RankOutputs& a = engine_results.ranks[r];
    const std::string at = what + " rank " + std::to_string(r) + " ";
    EXPECT_LE(relative_l2(a.out, e.out), tol) << at << "out";
    EXPECT_LE(relative_l2(a.routing.topk_weight, e.routing.topk_weight), tol) << at << "weights";
    EXPECT_NEAR(a.aux_loss, e.aux_loss, tol * (1.0 + std::abs(e.aux_loss))) << at << "aux_loss";
    EXPECT_NEAR(a.z_loss, e.z_loss, tol * (1.0 + std::abs(e.z_loss))) << at << "z_loss";
    if (!problem.backward) continue;
    EXPECT_LE(relative_l2(a.dx, e.dx), tol) << at << "dx";
    EXPECT_LE(relative_l2(a.dwg, e.dwg), tol) << at << "dwg";
    EXPECT_LE(relative_l2(a.dw1, e.dw1), tol) << at << "dw1";
    EXPECT_LE(relative_l2(a.dw2, e.dw2), tol) << at << "dw2";
    if (problem.config.bias) {
      EXPECT_LE(relative_l2(a.db1, e.db1), tol) << at << "db1";
      EXPECT_LE(relative_l2(a.db2, e.db2), tol) << at << "db2";
    }
  }
}

inline bool same_bits(const HostTensor& a, const HostTensor& b) {
  return a.type() == b.type() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

// Every output tensor bitwise equal.
inline void expect_bitwise_equal(const Results& a, const Results& b, const std::string& what) {
  ASSERT_EQ(a.ranks.size(), b.ranks.size());
  for (std::size_t r = 0; r < a.ranks.size(); ++r) {
    const RankOutputs& x = a.ranks[r];
    const RankOutputs& y = b.ranks[r];
    const std::string at = what + " rank " + std::to_string(r) + " ";
    EXPECT_TRUE(same_bits(x.out, y.out)) << at << "out";
    EXPECT_TRUE(same_bits(x.routing.topk_index, y.routing.topk_index)) << at << "topk_index";
    EXPECT_TRUE(same_bits(x.routing.topk_weight, y.routing.topk_weight)) << at << "topk_weight";
    EXPECT_TRUE(same_bits(x.routing.kept, y.routing.kept)) << at << "kept";
    EXPECT_TRUE(same_bits(x.dx, y.dx)) << at << "dx";
    EXPECT_TRUE(same_bits(x.dwg, y.dwg)) << at << "dwg";
    EXPECT_TRUE(same_bits(x.dw1, y.dw1)) << at << "dw1";
    EXPECT_TRUE(same_bits(x.dw2, y.dw2)) << at << "dw2";
    EXPECT_TRUE(same_bits(x.db1, y.db1)) << at << "db1";
    EXPECT_TRUE(same_bits(x.db2, y.db2)) << at << "db2";
    EXPECT_EQ(x.aux_loss, y.aux_loss) << at << "aux_loss";
    EXPECT_EQ(x.z_loss, y.z_loss) << at << "z_loss";
  }
}

}  // namespace flashmoe::engine_test
