// Comparisons of whole Results (every rank, every output): the routing a run decided, to replay
// it elsewhere (SPEC §4), the per-dtype tolerance, and bitwise equality of two runs (SPEC §5).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "flashmoe/problem.hpp"
#include "support/tensor_compare.hpp"

namespace flashmoe::test {

// The routing of `results`, for a reference run that replays it: near-ties decided otherwise
// by a different summation order are not errors (SPEC §4).
inline RoutingOverride routing_of(const Results& results) {
  RoutingOverride routing;
  for (const RankOutputs& rank : results.ranks) {
    routing.topk_index.push_back(rank.routing.topk_index);
    routing.kept.push_back(rank.routing.kept);
  }
  return routing;
}

// Relative L2 bound of a backend's output against the fp64 reference (SPEC §4).
inline double spec_tolerance(DType dtype) {
  switch (dtype) {
    case DType::fp64:
      return 1e-12;
    case DType::fp32:
      return 1e-5;
    default:
      return 2e-2;
  }
}
// The same for a layer: fp32 with allow_tf32 gets tf32's bound (5e-3), where a GPU runs it so.
inline double spec_tolerance(const Config& config) {
  return config.dtype == DType::fp32 && config.allow_tf32 ? 5e-3 : spec_tolerance(config.dtype);
}

// Every output of every rank bitwise equal: tensors, routing record and counts, losses.
inline void expect_bitwise_equal(const Results& a, const Results& b, const std::string& what) {
  ASSERT_EQ(a.ranks.size(), b.ranks.size()) << what;
  for (std::size_t r = 0; r < a.ranks.size(); ++r) {
    const RankOutputs& x = a.ranks[r];
    const RankOutputs& y = b.ranks[r];
    const std::string at = what + " rank " + std::to_string(r) + " ";
    EXPECT_TRUE(bitwise_equal(x.out, y.out)) << at << "out";
    EXPECT_TRUE(bitwise_equal(x.routing.topk_index, y.routing.topk_index)) << at << "topk_index";
    EXPECT_TRUE(bitwise_equal(x.routing.topk_weight, y.routing.topk_weight)) << at << "topk_weight";
    EXPECT_TRUE(bitwise_equal(x.routing.kept, y.routing.kept)) << at << "kept";
    EXPECT_EQ(x.routing.routed, y.routing.routed) << at << "routed";
    EXPECT_EQ(x.routing.accepted, y.routing.accepted) << at << "accepted";
    EXPECT_TRUE(bitwise_equal(x.dx, y.dx)) << at << "dx";
    EXPECT_TRUE(bitwise_equal(x.dwg, y.dwg)) << at << "dwg";
    EXPECT_TRUE(bitwise_equal(x.dw1, y.dw1)) << at << "dw1";
    EXPECT_TRUE(bitwise_equal(x.dw2, y.dw2)) << at << "dw2";
    EXPECT_TRUE(bitwise_equal(x.db1, y.db1)) << at << "db1";
    EXPECT_TRUE(bitwise_equal(x.db2, y.db2)) << at << "db2";
    EXPECT_EQ(x.aux_loss, y.aux_loss) << at << "aux_loss";
    EXPECT_EQ(x.z_loss, y.z_loss) << at << "z_loss";
  }
}

}  // namespace flashmoe::test
