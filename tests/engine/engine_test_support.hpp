// Shared helpers of the engine tests: problem construction, engine options, and the reference
// comparison with the engine's routing replayed (SPEC §4) together with the check of that
// routing against the SPEC's own (tests/support/routing_check.hpp). Bitwise comparison of two
// results and the tensor measures are tests/support's.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

#include "engine/engine.hpp"
#include "flashmoe/problem.hpp"
#include "reference/reference.hpp"
#include "support/results_compare.hpp"
#include "support/routing_check.hpp"
#include "support/tensor_compare.hpp"

namespace flashmoe::engine_test {

// A small configuration (H, P, E, k chosen per test); wait timeout short enough that a hang
// fails the test quickly, long enough for sanitizer builds.
inline Config small_config(DType dtype, Activation activation, std::int64_t experts,
                           std::int64_t top_k) {
  return {.hidden = 32,
          .ffn = 48,
          .experts = experts,
          .top_k = top_k,
          .activation = activation,
          .dtype = dtype,
          .max_tokens = 129,
          .wait_timeout_s = 60.0};
}

// Threads per processor group for the engine suite: FLASHMOE_TEST_GROUP_SIZE, default 1. The
// ThreadSanitizer stage of scripts/test.sh sets 4, so the whole suite's group-cooperative
// actors are raced there (results are bitwise the same for every group size).
inline int test_group_size() {
  const char* value = std::getenv("FLASHMOE_TEST_GROUP_SIZE");
  return value == nullptr ? 1 : std::max(1, std::atoi(value));
}

// Small tiles so that the test shapes span several row and column tiles of every task kind.
inline engine::EngineOptions small_tiles(int workers) {
  engine::EngineOptions options;
  options.workers_per_rank = workers;
  options.group_size = test_group_size();
  options.tiles = {16, 16, 16, 16, 16};
  return options;
}

// The engine's routing decision against the SPEC's (kept flags and counts exactly, top-k away
// from near-ties), then every tensor of its results against the fp64 reference run on that
// routing: replaying alone would accept any kept pattern, since the reference's replay checks
// only ranges and duplicates. Returns the routing check's counts.
inline test::RoutingCheckCounts expect_matches_reference(const Problem& problem,
                                                         const Results& engine_results,
                                                         const std::string& what) {
  using test::relative_l2;
  const test::RoutingCheckCounts counts =
      test::expect_routing_follows_spec(problem, engine_results, what);
  if (counts.near_ties > 0)
    std::cout << "[ routing  ] " << what << ": top-k compared on "
              << counts.tokens - counts.near_ties << " of " << counts.tokens << " tokens ("
              << counts.near_ties << " near-ties left out)\n";
  const RoutingOverride routing = test::routing_of(engine_results);
  const Results expected = reference::run(problem, reference::Precision::fp64, &routing);
  const double tol = test::spec_tolerance(problem.config);
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
  return counts;
}

}  // namespace flashmoe::engine_test
