// The reference's own routing decision (no override) against SPEC §2.1–2.5 as the tests restate
// it (tests/support/spec_routing.hpp, which shares no code with src/math), in fp64 and fp32:
// random layers, exact ties, every token to one expert with heavy drops, dropless, k = E and a
// rank without tokens. First the restatement itself on cases computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "reference/reference.hpp"
#include "support/routing_check.hpp"
#include "support/spec_routing.hpp"

namespace flashmoe {
namespace {

namespace spec = test::spec;

TEST(SpecRouting, CapacityByHand) {
  EXPECT_EQ(spec::capacity(7, 2, 8, 1.25, true), 3);      // ceil(2.1875)
  EXPECT_EQ(spec::capacity(64, 2, 4, 1.0, true), 32);     // exactly 32
  EXPECT_EQ(spec::capacity(5, 1, 8, 0.5, true), 1);       // ceil(0.3125)
  EXPECT_EQ(spec::capacity(3, 4, 2, 2.0, true), 3);       // ceil(12), clamped to S
  EXPECT_EQ(spec::capacity(1, 1, 2, 4.9e-324, true), 1);  // 0 after underflow, clamped to 1
  EXPECT_EQ(spec::capacity(9, 2, 8, 0.25, false), 9);     // dropless
  EXPECT_EQ(spec::capacity(0, 2, 8, 1.25, true), 0);      // no tokens
}

TEST(SpecRouting, SlotsByHand) {
  // Expert 0 is chosen by tokens 0, 1, 2, 3 and keeps 0, 1; expert 1 by 0, 2, 3 and keeps 0, 2.
  const spec::Slots slots = spec::assign_by_token_order({0, 1, 0, 2, 0, 1, 1, 0}, 2, 3, 2);
  EXPECT_EQ(slots.kept, (std::vector<std::uint8_t>{1, 1, 1, 1, 0, 1, 0, 0}));
  EXPECT_EQ(slots.routed, (std::vector<std::int64_t>{4, 3, 1}));
  EXPECT_EQ(slots.accepted, (std::vector<std::int64_t>{2, 2, 1}));
}

TEST(SpecRouting, GateByHand) {
  // x = [[1, 0], [0, 0]], wg rows (1, 0), (1, 0), (0, 1): token 0 has logits (1, 1, 0) — an
  // exact tie of experts 0 and 1 —, token 1 has (0, 0, 0).
  Config c;
  c.hidden = 2;
  c.ffn = 2;
  c.experts = 3;
  c.top_k = 2;
  c.dtype = DType::fp64;
  Problem problem = make_random_problem(c, 1, {2}, 1, false);
  for (std::int64_t i = 0; i < 4; ++i) problem.ranks[0].x.set(i, i == 0 ? 1.0 : 0.0);
  for (std::int64_t i = 0; i < 6; ++i) problem.wg.set(i, i == 0 || i == 2 || i == 5 ? 1.0 : 0.0);
  const spec::Gate g = spec::gate(problem, 0);
  const double e = std::exp(1.0);
  EXPECT_DOUBLE_EQ(g.probs[0], e / (2 * e + 1));
  EXPECT_DOUBLE_EQ(g.probs[2], 1 / (2 * e + 1));
  EXPECT_DOUBLE_EQ(g.lse[0], std::log(2 * e + 1));
  EXPECT_DOUBLE_EQ(g.lse[1], std::log(3.0));
  EXPECT_EQ(g.topk_index, (std::vector<std::int32_t>{0, 1, 0, 1}));  // lower index first
  EXPECT_EQ(g.tie_margin[0], 0.0);
  EXPECT_EQ(spec::weights(g, g.topk_index, true), (std::vector<double>{0.5, 0.5, 0.5, 0.5}));
  const spec::Losses losses = spec::losses(g, g.topk_index);
  // f = (2, 2, 0) / 4; P̄ = ((e/(2e+1) + 1/3) / 2, the same, (1/(2e+1) + 1/3) / 2).
  EXPECT_DOUBLE_EQ(losses.aux, 3 * 2 * 0.5 * (e / (2 * e + 1) + 1.0 / 3) / 2);
  EXPECT_DOUBLE_EQ(losses.z, (std::pow(std::log(2 * e + 1), 2) + std::pow(std::log(3.0), 2)) / 2);
}

Config layer(DType dtype, std::int64_t experts, std::int64_t top_k) {
  Config c;
  c.hidden = 16;
  c.ffn = 12;
  c.experts = experts;
  c.top_k = top_k;
  c.dtype = dtype;
  c.max_tokens = 80;
  c.aux_loss = true;
  c.z_loss = true;
  return c;
}

struct Case {
  std::string name;
  Problem problem;
};

// Every token prefers expert 1 by far (feature 0 is large and only expert 1's gate row weighs
// it); factor 0.25 keeps a handful of them.
Problem one_expert_heavy_drops(DType dtype) {
  Config c = layer(dtype, 4, 2);
  c.capacity_factor = 0.25;
  Problem p = make_random_problem(c, 2, {45, 30}, 13, false);
  for (std::int64_t e = 0; e < c.experts; ++e) p.wg.set(e * c.hidden, e == 1 ? 2.0 : 0.0);
  for (RankInputs& in : p.ranks)
    for (std::int64_t t = 0; t < in.x.dim(0); ++t) in.x.set(t * c.hidden, 4.0);
  return p;
}

// Gate rows equal in pairs and small dyadic values: exact ties in every precision.
Problem tied(DType dtype) {
  Config c = layer(dtype, 6, 3);
  Problem p = make_random_problem(c, 1, {33}, 14, false);
  for (std::int64_t e = 0; e < c.experts; ++e)
    for (std::int64_t h = 0; h < c.hidden; ++h)
      p.wg.set(e * c.hidden + h, static_cast<double>(((e / 2) * 3 + h * 5) % 7 - 3) / 8.0);
  for (std::int64_t t = 0; t < 33; ++t)
    for (std::int64_t h = 0; h < c.hidden; ++h)
      p.ranks[0].x.set(t * c.hidden + h, static_cast<double>((t * 5 + h * 3) % 7 - 3) / 4.0);
  return p;
}

std::vector<Case> cases(DType dtype) {
  std::vector<Case> list;
  list.push_back({"random", make_random_problem(layer(dtype, 8, 2), 2, {70, 0}, 11, false)});
  Config dropless = layer(dtype, 4, 3);
  dropless.drop_tokens = false;
  dropless.normalize_weights = false;
  list.push_back({"dropless", make_random_problem(dropless, 1, {50}, 12, false)});
  Config all = layer(dtype, 4, 4);
  all.capacity_factor = 0.5;
  list.push_back({"k = E", make_random_problem(all, 2, {21, 9}, 15, false)});
  list.push_back({"one expert, heavy drops", one_expert_heavy_drops(dtype)});
  list.push_back({"exact ties", tied(dtype)});
  return list;
}

TEST(SpecRouting, ReferenceDecidesAsTheSpecSays) {
  struct Run {
    DType dtype;
    reference::Precision precision;
  };
  for (const Run run : {Run{DType::fp64, reference::Precision::fp64},
                        Run{DType::fp32, reference::Precision::fp32}}) {
    std::int64_t exact_ties = 0, dropped = 0;
    for (const Case& k : cases(run.dtype)) {
      const std::string what = k.name + " " + std::string(to_string(run.dtype));
      const test::RoutingCheckCounts counts = test::expect_routing_follows_spec(
          k.problem, reference::run(k.problem, run.precision), what);
      EXPECT_EQ(counts.near_ties, 0) << what;
      exact_ties += counts.exact_ties;
      dropped += counts.dropped;
    }
    // The cases must reach what they are for: ties to decide and slots to drop.
    EXPECT_EQ(exact_ties, 33) << to_string(run.dtype);
    EXPECT_GT(dropped, 60) << to_string(run.dtype);
  }
}

}  // namespace
}  // namespace flashmoe
