// make_random_problem (determinism, world-size independence, dtype rounding, optional tensors)
// and validate_problem's messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "flashmoe/problem.hpp"
#include "support/error_message.hpp"
#include "support/tensor_compare.hpp"
#include "support/tiny_config.hpp"

namespace flashmoe {
namespace {

using test::bitwise_equal;
using test::error_message;
using test::expect_contains;

// The tiny layer with biases and a token bound of 16, which the refusals below exceed.
Config small_config() {
  Config c = test::tiny_config();
  c.bias = true;
  c.max_tokens = 16;
  return c;
}

TEST(MakeRandomProblem, ShapesAndOptionalTensors) {
  Config c = small_config();
  c.activation = Activation::swiglu;
  const Problem p = make_random_problem(c, 2, {5, 3}, 1, true, 0.5, 0.25);
  EXPECT_EQ(p.world_size, 2);
  EXPECT_TRUE(p.backward);
  EXPECT_EQ(p.d_aux, 0.5);
  EXPECT_EQ(p.d_z, 0.25);
  EXPECT_EQ(p.tokens(0), 5);
  EXPECT_EQ(p.tokens(1), 3);
  EXPECT_EQ(p.wg.shape(), (Shape{4, 6}));
  EXPECT_EQ(p.ranks[1].w1.shape(), (Shape{2, 10, 6}));  // gated: 2P rows
  EXPECT_EQ(p.ranks[1].b1.shape(), (Shape{2, 10}));
  EXPECT_EQ(p.ranks[1].w2.shape(), (Shape{2, 6, 5}));
  EXPECT_EQ(p.ranks[0].dout.shape(), (Shape{5, 6}));
  EXPECT_NO_THROW(validate_problem(p));

  c.bias = false;
  const Problem q = make_random_problem(c, 1, {4}, 1, false);
  EXPECT_FALSE(q.ranks[0].b1.defined());
  EXPECT_FALSE(q.ranks[0].b2.defined());
  EXPECT_FALSE(q.ranks[0].dout.defined());
  EXPECT_NO_THROW(validate_problem(q));
}

TEST(MakeRandomProblem, DeterministicInTheSeed) {
  const Config c = small_config();
  const Problem a = make_random_problem(c, 2, {5, 3}, 42, true);
  const Problem b = make_random_problem(c, 2, {5, 3}, 42, true);
  const Problem other = make_random_problem(c, 2, {5, 3}, 43, true);
  EXPECT_TRUE(bitwise_equal(a.wg, b.wg));
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(bitwise_equal(a.ranks[r].x, b.ranks[r].x));
    EXPECT_TRUE(bitwise_equal(a.ranks[r].w1, b.ranks[r].w1));
    EXPECT_TRUE(bitwise_equal(a.ranks[r].b1, b.ranks[r].b1));
    EXPECT_TRUE(bitwise_equal(a.ranks[r].w2, b.ranks[r].w2));
    EXPECT_TRUE(bitwise_equal(a.ranks[r].b2, b.ranks[r].b2));
    EXPECT_TRUE(bitwise_equal(a.ranks[r].dout, b.ranks[r].dout));
    EXPECT_FALSE(bitwise_equal(a.ranks[r].x, other.ranks[r].x));
    EXPECT_FALSE(bitwise_equal(a.ranks[r].w1, other.ranks[r].w1));
  }
  EXPECT_FALSE(bitwise_equal(a.wg, other.wg));
  // Ranks draw different token values.
  EXPECT_NE(a.ranks[0].x.get(0), a.ranks[1].x.get(0));
}

TEST(MakeRandomProblem, ExpertWeightsDoNotDependOnWorldSize) {
  const Config c = small_config();
  const Problem one = make_random_problem(c, 1, {4}, 9, false);
  const Problem two = make_random_problem(c, 2, {4, 4}, 9, false);
  EXPECT_TRUE(bitwise_equal(one.wg, two.wg));
  EXPECT_TRUE(bitwise_equal(one.ranks[0].x, two.ranks[0].x));
  const std::int64_t R = c.w1_rows(), H = c.hidden, P = c.ffn;
  for (std::int64_t e = 0; e < c.experts; ++e) {
    const RankInputs& owner = two.ranks[static_cast<std::size_t>(e / 2)];
    const std::int64_t local = e % 2;
    for (std::int64_t i = 0; i < R * H; ++i)
      ASSERT_EQ(one.ranks[0].w1.get(e * R * H + i), owner.w1.get(local * R * H + i)) << e;
    for (std::int64_t i = 0; i < H * P; ++i)
      ASSERT_EQ(one.ranks[0].w2.get(e * H * P + i), owner.w2.get(local * H * P + i)) << e;
    for (std::int64_t i = 0; i < R; ++i)
      ASSERT_EQ(one.ranks[0].b1.get(e * R + i), owner.b1.get(local * R + i)) << e;
    for (std::int64_t i = 0; i < H; ++i)
      ASSERT_EQ(one.ranks[0].b2.get(e * H + i), owner.b2.get(local * H + i)) << e;
  }
}

TEST(MakeRandomProblem, WeightsFollowTheLinearInitialisationBounds) {
  Config c = small_config();
  c.hidden = 16;
  c.ffn = 9;
  const Problem p = make_random_problem(c, 1, {8}, 3, false);
  const auto max_abs = [](const HostTensor& t) {
    double m = 0.0;
    for (std::int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(t.get(i)));
    return m;
  };
  EXPECT_LE(max_abs(p.wg), 1.0 / 4.0);
  EXPECT_LE(max_abs(p.ranks[0].w1), 1.0 / 4.0);
  EXPECT_LE(max_abs(p.ranks[0].w2), 1.0 / 3.0);
  EXPECT_GT(max_abs(p.ranks[0].w2), 0.2);  // uses the range, not a constant
  EXPECT_GT(max_abs(p.ranks[0].x), 1.0);   // normal, not uniform
}

TEST(MakeRandomProblem, LowPrecisionIsTheRoundedDoubleProblem) {
  Config c = small_config();
  const Problem wide = make_random_problem(c, 1, {4}, 5, true);
  for (DType d : {DType::fp32, DType::bf16, DType::fp16}) {
    c.dtype = d;
    const Problem narrow = make_random_problem(c, 1, {4}, 5, true);
    EXPECT_EQ(narrow.ranks[0].x.type(), storage_type(d));
    EXPECT_TRUE(bitwise_equal(narrow.ranks[0].x, wide.ranks[0].x.to(storage_type(d))));
    EXPECT_TRUE(bitwise_equal(narrow.ranks[0].w1, wide.ranks[0].w1.to(storage_type(d))));
    EXPECT_TRUE(bitwise_equal(narrow.wg, wide.wg.to(storage_type(d))));
  }
}

TEST(MakeRandomRankProblem, HoldsOnlyThatRankWithTheFullProblemsValues) {
  Config c = small_config();
  c.activation = Activation::geglu;
  const Problem full = make_random_problem(c, 2, {5, 3}, 11, true, 0.5, 0.25);
  for (int rank = 0; rank < 2; ++rank) {
    const Problem part = make_random_rank_problem(c, 2, {5, 3}, 11, true, 0.5, 0.25, rank);
    EXPECT_EQ(part.world_size, 2);
    EXPECT_EQ(part.d_aux, 0.5);
    EXPECT_EQ(part.d_z, 0.25);
    EXPECT_TRUE(bitwise_equal(part.wg, full.wg));
    const RankInputs& own = part.ranks[static_cast<std::size_t>(rank)];
    const RankInputs& want = full.ranks[static_cast<std::size_t>(rank)];
    for (const auto& [got, expected] : {std::pair{&own.x, &want.x},
                                        {&own.w1, &want.w1},
                                        {&own.b1, &want.b1},
                                        {&own.w2, &want.w2},
                                        {&own.b2, &want.b2},
                                        {&own.dout, &want.dout}})
      EXPECT_TRUE(bitwise_equal(*got, *expected));
    const RankInputs& other = part.ranks[static_cast<std::size_t>(1 - rank)];
    EXPECT_FALSE(other.x.defined());
    EXPECT_FALSE(other.w1.defined());
    EXPECT_FALSE(other.dout.defined());
    // Valid for its own rank, not as a whole problem.
    EXPECT_NO_THROW(validate_problem_rank(part, rank));
    expect_contains(error_message([&] { validate_problem_rank(part, 1 - rank); }),
                    "rank " + std::to_string(1 - rank));
    EXPECT_THROW(validate_problem(part), Error);
  }
  expect_contains(error_message([&] {
                    make_random_rank_problem(c, 2, {5, 3}, 0, false, 0, 0, 2);
                  }),
                  "rank 2 is outside the world of 2 ranks");
  expect_contains(error_message([&] { validate_problem_rank(full, -1); }),
                  "rank -1 is outside the world of 2 ranks");
}

TEST(MakeRandomProblem, RefusesBadTokenCounts) {
  const Config c = small_config();
  expect_contains(error_message([&] { make_random_problem(c, 2, {4}, 0, false); }),
                  "one count per rank (2)");
  expect_contains(error_message([&] { make_random_problem(c, 1, {17}, 0, false); }),
                  "max_tokens (16)");
  expect_contains(error_message([&] {
                    make_random_problem(c, 3, {1, 1, 1}, 0, false);
                  }),
                  "divisible");
}

TEST(ValidateProblem, NamesTheTensorExpectedAndActual) {
  const Config c = small_config();
  const Problem valid = make_random_problem(c, 2, {5, 3}, 1, true);

  Problem p = valid;
  p.ranks[1].x = HostTensor::zeros<double>({3, 7});
  expect_contains(error_message([&] { validate_problem(p); }),
                  "tensor x (rank 1): expected float64 [3, 6], got float64 [3, 7]");

  p = valid;
  p.ranks[0].w1 = p.ranks[0].w1.to(ElementType::f32);
  expect_contains(error_message([&] { validate_problem(p); }),
                  "tensor w1 (rank 0): expected float64 [2, 5, 6], got float32 [2, 5, 6]");

  p = valid;
  p.ranks[1].b1 = HostTensor();
  expect_contains(error_message([&] { validate_problem(p); }), "tensor b1 (rank 1)");

  p = valid;
  p.ranks[0].dout = HostTensor();
  expect_contains(error_message([&] { validate_problem(p); }), "tensor dout (rank 0)");

  p = valid;
  p.wg = HostTensor::zeros<double>({3, 6});
  expect_contains(error_message([&] { validate_problem(p); }),
                  "tensor wg: expected float64 [4, 6], got float64 [3, 6]");

  p = valid;
  p.ranks.pop_back();
  expect_contains(error_message([&] { validate_problem(p); }),
                  "expected inputs for 2 ranks, got 1");

  p = valid;
  p.config.max_tokens = 4;
  expect_contains(error_message([&] { validate_problem(p); }), "5 tokens exceed max_tokens = 4");

  p = valid;
  p.ranks[0].x = HostTensor::zeros<double>({30});
  expect_contains(error_message([&] { validate_problem(p); }), "expected 2 dimensions");
}

}  // namespace
}  // namespace flashmoe
