// Routing: replaying a given routing (SPEC §4), dropped slots and all-dropped tokens (§2.7),
// capacity overflow (§2.4–2.5), and the refusals of a malformed override.
#include <gtest/gtest.h>

#include "reference/reference.hpp"
#include "support/error_message.hpp"
#include "support/results_compare.hpp"
#include "support/tensor_compare.hpp"
#include "support/tiny_config.hpp"

namespace flashmoe::reference {
namespace {

using test::expect_bitwise_equal;
using test::routing_of;
using test::tiny_config;

Problem sample_problem() {
  Config c = tiny_config(Activation::silu);
  c.bias = true;
  c.capacity_factor = 0.75;  // some drops
  return make_random_problem(c, 2, {6, 4}, 3, true, 0.1, 0.1);
}

TEST(RoutingOverride, ReplayingTheOwnRoutingChangesNothing) {
  const Problem p = sample_problem();
  const Results own = run(p, Precision::fp64);
  const RoutingOverride routing = routing_of(own);
  expect_bitwise_equal(run(p, Precision::fp64, &routing), own, "replayed");
}

TEST(RoutingOverride, RunsAreDeterministic) {
  const Problem p = sample_problem();
  expect_bitwise_equal(run(p, Precision::fp64), run(p, Precision::fp64), "fp64");
  expect_bitwise_equal(run(p, Precision::fp32), run(p, Precision::fp32), "fp32");
}

TEST(RoutingOverride, GivenExpertsAndKeptFlagsAreUsed) {
  Problem p = sample_problem();
  p.backward = false;
  const Results own = run(p, Precision::fp64);
  const std::int64_t H = p.config.hidden;

  // Rank 0, token 0: slots (3, 1) both kept; then only slot 0; then only slot 1; then neither.
  RoutingOverride routing = routing_of(own);
  HostTensor& index = routing.topk_index[0];
  HostTensor& kept = routing.kept[0];
  index.set(0, 3);
  index.set(1, 1);
  const auto out_with = [&](int keep0, int keep1) {
    kept.set(0, keep0);
    kept.set(1, keep1);
    return run(p, Precision::fp64, &routing);
  };
  const Results both = out_with(1, 1), first = out_with(1, 0), second = out_with(0, 1),
                none = out_with(0, 0);
  for (std::int64_t h = 0; h < H; ++h) {
    // Combine sums the kept slots in order: out = (0 + w0·y0) + w1·y1, bit for bit.
    EXPECT_EQ(both.ranks[0].out.get(h), first.ranks[0].out.get(h) + second.ranks[0].out.get(h));
    EXPECT_NE(first.ranks[0].out.get(h), 0.0);
    EXPECT_NE(second.ranks[0].out.get(h), 0.0);
    EXPECT_EQ(none.ranks[0].out.get(h), 0.0);  // every slot dropped: a zero row
  }
  // Weights come from this reference's softmax and are not renormalised after a drop.
  EXPECT_EQ(first.ranks[0].routing.topk_weight.get(0), both.ranks[0].routing.topk_weight.get(0));
  EXPECT_EQ(first.ranks[0].routing.topk_weight.get(1), both.ranks[0].routing.topk_weight.get(1));
  EXPECT_NEAR(both.ranks[0].routing.topk_weight.get(0) + both.ranks[0].routing.topk_weight.get(1),
              1.0, 1e-15);
  // The record echoes the given routing and counts it.
  EXPECT_EQ(none.ranks[0].routing.topk_index.get(0), 3);
  EXPECT_EQ(none.ranks[0].routing.kept.get(1), 0);
  std::int64_t routed3 = 0, accepted3 = 0;
  for (std::int64_t i = 0; i < index.numel(); ++i) {
    routed3 += index.get(i) == 3 ? 1 : 0;
    accepted3 += index.get(i) == 3 && kept.get(i) == 1 ? 1 : 0;
  }
  EXPECT_EQ(none.ranks[0].routing.routed[3], routed3);
  EXPECT_EQ(none.ranks[0].routing.accepted[3], accepted3);
  // Other tokens are untouched.
  for (std::int64_t i = H; i < p.tokens(0) * H; ++i)
    EXPECT_EQ(none.ranks[0].out.get(i), both.ranks[0].out.get(i));
}

TEST(RoutingOverride, DroppedSlotsGetNoExpertGradient) {
  Problem p = sample_problem();
  p.d_aux = 0.0;
  p.d_z = 0.0;
  RoutingOverride routing = routing_of(run(p, Precision::fp64));
  for (HostTensor& kept : routing.kept)
    for (std::int64_t i = 0; i < kept.numel(); ++i) kept.set(i, 0);
  const Results r = run(p, Precision::fp64, &routing);
  for (const RankOutputs& out : r.ranks) {
    EXPECT_TRUE(test::all_zero(out.out));
    EXPECT_TRUE(test::all_zero(out.dx));
    EXPECT_TRUE(test::all_zero(out.dwg));
    EXPECT_TRUE(test::all_zero(out.dw1));
    EXPECT_TRUE(test::all_zero(out.db1));
    EXPECT_TRUE(test::all_zero(out.dw2));
    EXPECT_TRUE(test::all_zero(out.db2));
  }
}

TEST(RoutingOverride, MalformedRoutingIsRefusedNamingRankAndTensor) {
  const Problem p = sample_problem();
  const RoutingOverride good = routing_of(run(p, Precision::fp64));
  using test::error_message;
  using test::expect_contains;

  RoutingOverride bad = good;
  bad.topk_index[1].set(3, 7);  // token 1, slot 1
  expect_contains(error_message([&] { run(p, Precision::fp64, &bad); }),
                  "routing override topk_index (rank 1) [1, 1] = 7: allowed are experts 0 ≤ e < 4");

  bad = good;
  bad.topk_index[0].set(0, -1);
  expect_contains(error_message([&] { run(p, Precision::fp64, &bad); }), "[0, 0] = -1");

  bad = good;
  bad.topk_index[0].set(2, good.topk_index[0].get(3));  // token 1 chooses one expert twice
  expect_contains(error_message([&] { run(p, Precision::fp64, &bad); }),
                  "routing override topk_index (rank 0): token 1 chooses expert");

  bad = good;
  bad.kept[1].set(0, 2);
  expect_contains(error_message([&] { run(p, Precision::fp64, &bad); }),
                  "routing override kept (rank 1) [0, 0] = 2: allowed are 0 and 1");

  bad = good;
  bad.kept[0] = HostTensor::zeros<std::uint8_t>({6, 3});
  expect_contains(error_message([&] { run(p, Precision::fp64, &bad); }),
                  "tensor routing override kept (rank 0): expected uint8 [6, 2], got uint8 [6, 3]");

  bad = good;
  bad.topk_index[1] = bad.topk_index[1].to(ElementType::i64);
  expect_contains(error_message([&] { run(p, Precision::fp64, &bad); }),
                  "routing override topk_index (rank 1): expected int32");

  bad = good;
  bad.kept.pop_back();
  expect_contains(error_message([&] { run(p, Precision::fp64, &bad); }),
                  "routing override: kept has 1 ranks, expected 2");

  bad = good;
  bad.topk_index.push_back(good.topk_index[0]);
  expect_contains(error_message([&] { run(p, Precision::fp64, &bad); }),
                  "routing override: topk_index has 3 ranks, expected 2");
}

// wg = 0 makes every probability 1/E: the tie rule sends every token to experts 0..k−1, so
// expert 0 overflows and the last tokens of each rank are dropped.
Problem all_to_expert_zero(bool drop_tokens) {
  Config c = tiny_config(Activation::gelu);
  c.top_k = 1;
  c.experts = 4;
  c.capacity_factor = 1.0;
  c.drop_tokens = drop_tokens;
  Problem p = make_random_problem(c, 2, {8, 3}, 5, true);
  for (std::int64_t i = 0; i < p.wg.numel(); ++i) p.wg.set(i, 0.0);
  return p;
}

TEST(Capacity, OverflowDropsTheLastTokensOfEachRank) {
  const Problem p = all_to_expert_zero(true);
  const Results r = run(p, Precision::fp64);
  const std::int64_t H = p.config.hidden;
  // Rank 0: C = ceil(1.0 · 8 · 1 / 4) = 2 → tokens 0, 1 kept. Rank 1: C = ceil(3/4) = 1.
  const std::int64_t capacity[] = {2, 1};
  for (int rank = 0; rank < 2; ++rank) {
    const RankOutputs& out = r.ranks[static_cast<std::size_t>(rank)];
    const std::int64_t S = p.tokens(rank);
    EXPECT_EQ(out.routing.routed, (std::vector<std::int64_t>{S, 0, 0, 0}));
    EXPECT_EQ(out.routing.accepted, (std::vector<std::int64_t>{capacity[rank], 0, 0, 0}));
    for (std::int64_t t = 0; t < S; ++t) {
      EXPECT_EQ(out.routing.topk_index.get(t), 0);
      EXPECT_EQ(out.routing.topk_weight.get(t), 1.0);
      const bool keep = t < capacity[rank];
      EXPECT_EQ(out.routing.kept.get(t), keep ? 1 : 0) << "rank " << rank << " token " << t;
      double row_norm = 0.0, dx_norm = 0.0;
      for (std::int64_t h = 0; h < H; ++h) {
        row_norm += std::abs(out.out.get(t * H + h));
        dx_norm += std::abs(out.dx.get(t * H + h));
      }
      EXPECT_EQ(row_norm > 0.0, keep) << "rank " << rank << " token " << t;
      EXPECT_EQ(dx_norm > 0.0, keep) << "rank " << rank << " token " << t;
    }
  }
  // Experts 1..3 received nothing: no gradient. Expert 0 (rank 0, local 0) did.
  const std::int64_t per_expert = p.config.w1_rows() * H;
  for (std::int64_t i = 0; i < r.ranks[0].dw1.numel(); ++i)
    EXPECT_EQ(r.ranks[0].dw1.get(i) != 0.0, i < per_expert) << i;
  EXPECT_TRUE(test::all_zero(r.ranks[1].dw1));
  EXPECT_TRUE(test::all_zero(r.ranks[1].dw2));
}

TEST(Capacity, DroplessKeepsEveryToken) {
  const Results r = run(all_to_expert_zero(false), Precision::fp64);
  EXPECT_EQ(r.ranks[0].routing.accepted, (std::vector<std::int64_t>{8, 0, 0, 0}));
  EXPECT_EQ(r.ranks[1].routing.accepted, (std::vector<std::int64_t>{3, 0, 0, 0}));
  for (const RankOutputs& out : r.ranks)
    for (std::int64_t i = 0; i < out.routing.kept.numel(); ++i)
      EXPECT_EQ(out.routing.kept.get(i), 1);
}

TEST(Capacity, TiesGoToTheLowestExperts) {
  Problem p = all_to_expert_zero(false);
  p.config.top_k = 3;
  p = make_random_problem(p.config, 2, {8, 3}, 5, false);
  for (std::int64_t i = 0; i < p.wg.numel(); ++i) p.wg.set(i, 0.0);
  const Results r = run(p, Precision::fp64);
  for (const RankOutputs& out : r.ranks) {
    for (std::int64_t t = 0; t < out.routing.topk_index.dim(0); ++t) {
      EXPECT_EQ(out.routing.topk_index.get(t * 3 + 0), 0);
      EXPECT_EQ(out.routing.topk_index.get(t * 3 + 1), 1);
      EXPECT_EQ(out.routing.topk_index.get(t * 3 + 2), 2);
      EXPECT_NEAR(out.routing.topk_weight.get(t * 3), 1.0 / 3.0, 1e-15);
    }
  }
}

}  // namespace
}  // namespace flashmoe::reference
