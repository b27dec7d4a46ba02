// Routing: the engine's own routing equals the reference's in fp64 (no override), and
// adversarial routings — everything to one expert (with heavy drops), an expert nobody picks,
// exact ties, capacity overflow, odd token counts, E = W, k = E — follow the SPEC's routing
// (expect_matches_reference checks the decision itself) and match the reference.
#include <gtest/gtest.h>

#include "engine_test_support.hpp"
#include "support/tensor_compare.hpp"

namespace flashmoe {
namespace {

using engine_test::expect_matches_reference;
using engine_test::small_config;
using engine_test::small_tiles;
using test::bitwise_equal;

TEST(EngineRouting, EqualsReferenceRoutingInFp64) {
  for (const bool drop : {true, false}) {
    Config c = small_config(DType::fp64, Activation::gelu, 8, 3);
    c.drop_tokens = drop;
    c.capacity_factor = 1.25;
    const Problem problem = make_random_problem(c, 4, {7, 0, 65, 129}, 5, false);
    const Results engine = engine::run_in_process(problem, small_tiles(2));
    const Results reference = reference::run(problem, reference::Precision::fp64);
    for (std::size_t r = 0; r < engine.ranks.size(); ++r) {
      const Routing& a = engine.ranks[r].routing;
      const Routing& b = reference.ranks[r].routing;
      EXPECT_TRUE(bitwise_equal(a.topk_index, b.topk_index)) << "rank " << r;
      EXPECT_TRUE(bitwise_equal(a.kept, b.kept)) << "rank " << r;
      EXPECT_EQ(a.routed, b.routed) << "rank " << r;
      EXPECT_EQ(a.accepted, b.accepted) << "rank " << r;
    }
  }
}

// Makes every token prefer `favourite` and never pick `shunned`: feature 0 of every x row is
// large, and only those experts' gate rows weigh it (+/−).
Problem skewed_problem(const Config& c, int world_size, const std::vector<std::int64_t>& tokens,
                       std::int64_t favourite, std::int64_t shunned) {
  Problem problem = make_random_problem(c, world_size, tokens, 23, true, 0.5, 0.25);
  for (std::int64_t e = 0; e < c.experts; ++e)
    problem.wg.set(e * c.hidden, e == favourite ? 2.0 : (e == shunned ? -2.0 : 0.0));
  for (RankInputs& in : problem.ranks)
    for (std::int64_t t = 0; t < in.x.dim(0); ++t) in.x.set(t * c.hidden, 4.0);
  return problem;
}

TEST(EngineRouting, AllTokensToOneExpertAndAnUnusedExpert) {
  struct Capacity {
    bool drop;
    double factor;
  };
  for (const DType dtype : {DType::fp64, DType::fp32, DType::bf16}) {
    // Expert 3 overflows with factor 1 (every token wants it) and keeps only a few tokens with
    // factor 0.25 (heavy drops); dropless keeps them all.
    for (const Capacity capacity :
         {Capacity{true, 1.0}, Capacity{true, 0.25}, Capacity{false, 1.0}}) {
      Config c = small_config(dtype, Activation::silu, 8, 2);
      c.drop_tokens = capacity.drop;
      c.capacity_factor = capacity.factor;
      const Problem problem = skewed_problem(c, 2, {65, 33}, 3, 5);
      const Results results = engine::run_in_process(problem, small_tiles(2));
      const std::string what =
          "skewed " + std::string(to_string(dtype)) +
          (capacity.drop ? " drop, factor " + std::to_string(capacity.factor) : " dropless");
      for (std::size_t r = 0; r < results.ranks.size(); ++r) {
        const Routing& routing = results.ranks[r].routing;
        const std::int64_t S = problem.tokens(static_cast<int>(r));
        EXPECT_EQ(routing.routed[3], S) << what << " rank " << r;
        EXPECT_EQ(routing.routed[5], 0) << what << " rank " << r;
        // Expert 3 keeps exactly C_r tokens: ceil(factor · S · 2 / 8) when dropping.
        EXPECT_EQ(routing.accepted[3],
                  capacity.drop ? test::spec::capacity(S, 2, 8, capacity.factor, true) : S)
            << what << " rank " << r;
      }
      expect_matches_reference(problem, results, what);
    }
  }
}

// Exact ties: experts come in pairs with equal gate rows (2i and 2i + 1), and every third token
// is a zero row, for which all eight experts tie. The values are small dyadic numbers, so every
// logit is exact in fp32, bf16 and fp64 whatever the summation order, and the ties are exact in
// every precision: the lower expert index must win each of them (SPEC §2.2), also at the top-k
// boundary (k = 3 splits a pair).
Problem tied_problem(DType dtype, int world_size, const std::vector<std::int64_t>& tokens) {
  Config c = small_config(dtype, Activation::gelu, 8, 3);
  c.capacity_factor = 1.0;
  Problem problem = make_random_problem(c, world_size, tokens, 29, true, 0.5, 0.25);
  const std::int64_t H = c.hidden;
  for (std::int64_t e = 0; e < c.experts; ++e)
    for (std::int64_t h = 0; h < H; ++h)
      problem.wg.set(e * H + h, static_cast<double>(((e / 2) * 5 + h * 11) % 9 - 4) / 8.0);
  for (RankInputs& in : problem.ranks)
    for (std::int64_t t = 0; t < in.x.dim(0); ++t)
      for (std::int64_t h = 0; h < H; ++h)
        in.x.set(t * H + h, t % 3 == 2 ? 0.0 : static_cast<double>((t * 7 + h * 3) % 9 - 4) / 4.0);
  return problem;
}

TEST(EngineRouting, ExactTiesGoToTheLowerExpertIndex) {
  for (const DType dtype : {DType::fp64, DType::fp32, DType::bf16}) {
    const Problem problem = tied_problem(dtype, 2, {40, 29});
    const Results results = engine::run_in_process(problem, small_tiles(2));
    const test::RoutingCheckCounts counts =
        expect_matches_reference(problem, results, "ties " + std::string(to_string(dtype)));
    EXPECT_EQ(counts.exact_ties, counts.tokens) << "every token must have a tie to decide";
    EXPECT_EQ(counts.near_ties, 0);
    EXPECT_GT(counts.dropped, 0) << "factor 1 with ties piling onto the lower experts must drop";
    // A zero row ties all experts: its top-3 is 0, 1, 2.
    const auto index = results.ranks[0].routing.topk_index.data<std::int32_t>();
    EXPECT_EQ((std::vector<std::int32_t>(index.begin() + 2 * 3, index.begin() + 3 * 3)),
              (std::vector<std::int32_t>{0, 1, 2}));
  }
}

TEST(EngineRouting, OddTokenCounts) {
  for (const std::int64_t S : {1, 7, 65, 129}) {
    Config c = small_config(DType::fp64, Activation::relu, 4, 2);
    c.bias = true;
    const Problem problem = make_random_problem(c, 2, {S, 129 - S + 1}, 31, true, 0.5, 0.5);
    expect_matches_reference(problem, engine::run_in_process(problem, small_tiles(3)),
                             "S=" + std::to_string(S));
  }
}

TEST(EngineRouting, ExpertsEqualWorldSizeAndTopKEqualExperts) {
  struct Case {
    int world_size;
    std::int64_t experts, top_k;
  };
  for (const Case& k : {Case{4, 4, 1}, Case{4, 4, 4}, Case{2, 4, 4}, Case{1, 2, 2}}) {
    for (const DType dtype : {DType::fp64, DType::fp32}) {
      Config c = small_config(dtype, Activation::swiglu, k.experts, k.top_k);
      c.capacity_factor = 0.5;  // forces drops when k = E
      std::vector<std::int64_t> tokens(static_cast<std::size_t>(k.world_size), 0);
      for (std::size_t r = 0; r < tokens.size(); ++r)
        tokens[r] = 9 + 17 * static_cast<std::int64_t>(r);
      const Problem problem = make_random_problem(c, k.world_size, tokens, 41, true, 0.1, 0.1);
      expect_matches_reference(problem, engine::run_in_process(problem, small_tiles(2)),
                               "W=" + std::to_string(k.world_size) + " E=" +
                                   std::to_string(k.experts) + " k=" + std::to_string(k.top_k));
    }
  }
}

TEST(EngineRouting, DefaultTilesLargerThanTheProblem) {
  Config c = small_config(DType::fp32, Activation::geglu, 8, 2);
  const Problem problem = make_random_problem(c, 4, {7, 0, 65, 129}, 3, true, 0.2, 0.2);
  engine::EngineOptions options;
  options.workers_per_rank = 1;
  expect_matches_reference(problem, engine::run_in_process(problem, options), "default tiles");
}

}  // namespace
}  // namespace flashmoe

namespace flashmoe {
namespace {

// One-row, one-column tiles: the most tasks a pass can have, so the queue's worst-case bound and
// every partial-tile path are exercised.
TEST(EngineRouting, SingleElementTilesStressTheTaskBound) {
  Config c = engine_test::small_config(DType::fp64, Activation::swiglu, 4, 4);
  c.hidden = 8;
  c.ffn = 6;
  c.drop_tokens = false;
  c.bias = true;
  const Problem problem = make_random_problem(c, 2, {9, 5}, 77, true, 0.5, 0.5);
  engine::EngineOptions options;
  options.workers_per_rank = 2;
  options.tiles = {1, 1, 1, 1};
  engine_test::expect_matches_reference(problem, engine::run_in_process(problem, options),
                                        "1×1 tiles");
}

}  // namespace
}  // namespace flashmoe
