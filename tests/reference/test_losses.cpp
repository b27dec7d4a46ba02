// Auxiliary losses (SPEC §2.8) against hand computations, and ranks without tokens.
#include <gtest/gtest.h>

#include <cmath>

#include "hand_problem.hpp"
#include "reference/reference.hpp"
#include "support/tensor_compare.hpp"
#include "support/tiny_config.hpp"

namespace flashmoe::reference {
namespace {

using test::tensor;

double sigmoid(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}

// H = 1, E = 2, k = 1, three tokens x = [1, −1, 3], wg = [[2], [1]]:
//   logits [2, 1], [−2, −1], [6, 3] → experts 0, 1, 0;  p = [σ(1), σ(−1)], [σ(−1), σ(1)],
//   [σ(3), σ(−3)].  f = [2/3, 1/3];  P̄0 = (σ(1) + σ(−1) + σ(3)) / 3 = (1 + σ(3)) / 3,
//   P̄1 = (2 − σ(3)) / 3;  l_aux = 2·(2/3·P̄0 + 1/3·P̄1) = 2·(4 + σ(3)) / 9.
//   lse = 2 + log(1 + e⁻¹), −1 + log(1 + e⁻¹), 6 + log(1 + e⁻³);  l_z = mean of their squares.
Problem loss_problem() {
  const Config c{.hidden = 1,
                 .ffn = 1,
                 .experts = 2,
                 .top_k = 1,
                 .activation = Activation::identity,
                 .dtype = DType::fp64,
                 .aux_loss = true,
                 .z_loss = true};
  Problem p = test::empty_problem(c, 1);
  p.wg = tensor({2, 1}, {2, 1});
  RankInputs in;
  in.x = tensor({3, 1}, {1, -1, 3});
  in.w1 = tensor({2, 1, 1}, {1, 1});
  in.w2 = tensor({2, 1, 1}, {1, 1});
  p.ranks.push_back(in);
  return p;
}

TEST(Losses, LoadBalanceLossByHand) {
  const RankOutputs out = run(loss_problem(), Precision::fp64).ranks[0];
  EXPECT_EQ(out.routing.routed, (std::vector<std::int64_t>{2, 1}));
  EXPECT_NEAR(out.aux_loss, 2.0 * (4.0 + sigmoid(3.0)) / 9.0, 1e-15);
}

TEST(Losses, ZLossByHand) {
  const RankOutputs out = run(loss_problem(), Precision::fp64).ranks[0];
  const double lse[] = {2 + std::log1p(std::exp(-1.0)), -1 + std::log1p(std::exp(-1.0)),
                        6 + std::log1p(std::exp(-3.0))};
  EXPECT_NEAR(out.z_loss, (lse[0] * lse[0] + lse[1] * lse[1] + lse[2] * lse[2]) / 3.0, 1e-14);
}

TEST(Losses, LoadBalanceCountsSlotsBeforeCapacity) {
  // Uniform probabilities (wg = 0) with every token on expert 0: f = [1, 0, 0, 0], P̄ = 1/4,
  // l_aux = 4 · 1 · 1/4 = 1 whatever the capacity drops; l_z = log(4)².
  for (bool drop : {true, false}) {
    Config c = test::tiny_config();
    c.top_k = 1;
    c.capacity_factor = 0.25;
    c.drop_tokens = drop;
    Problem p = make_random_problem(c, 1, {8}, 1, false);
    for (std::int64_t i = 0; i < p.wg.numel(); ++i) p.wg.set(i, 0.0);
    const RankOutputs out = run(p, Precision::fp64).ranks[0];
    EXPECT_EQ(out.routing.accepted[0], drop ? 1 : 8);
    EXPECT_NEAR(out.aux_loss, 1.0, 1e-15);
    EXPECT_NEAR(out.z_loss, std::log(4.0) * std::log(4.0), 1e-14);
  }
}

TEST(Losses, PerRankOverItsOwnTokens) {
  // The same tokens on one rank or split over two: each rank's losses use only its tokens.
  const Config c = test::tiny_config(Activation::silu);
  const Problem one = make_random_problem(c, 1, {5}, 8, false);
  Problem two = make_random_problem(c, 2, {5, 3}, 8, false);
  const Results r1 = run(one, Precision::fp64), r2 = run(two, Precision::fp64);
  EXPECT_NEAR(r2.ranks[0].aux_loss, r1.ranks[0].aux_loss, 1e-15);  // rank 0's x is the same
  EXPECT_NEAR(r2.ranks[0].z_loss, r1.ranks[0].z_loss, 1e-15);
  EXPECT_NE(r2.ranks[1].aux_loss, r2.ranks[0].aux_loss);
  EXPECT_GT(r2.ranks[1].z_loss, 0.0);
}

TEST(Losses, RankWithoutTokensReportsZeroAndContributesNoGradient) {
  Config c = test::tiny_config(Activation::swiglu);
  c.bias = true;
  const Problem p = make_random_problem(c, 2, {0, 4}, 2, true, 0.7, 0.4);
  const Results r = run(p, Precision::fp64);
  const RankOutputs& empty = r.ranks[0];
  EXPECT_EQ(empty.aux_loss, 0.0);
  EXPECT_EQ(empty.z_loss, 0.0);
  EXPECT_EQ(empty.out.shape(), (Shape{0, c.hidden}));
  EXPECT_EQ(empty.dx.shape(), (Shape{0, c.hidden}));
  EXPECT_EQ(empty.routing.topk_index.shape(), (Shape{0, c.top_k}));
  EXPECT_EQ(empty.routing.routed, (std::vector<std::int64_t>(4, 0)));
  EXPECT_TRUE(test::all_zero(empty.dwg));
  EXPECT_FALSE(test::all_zero(r.ranks[1].dwg));
  EXPECT_GT(r.ranks[1].aux_loss, 0.0);
}

TEST(Losses, LossGradientsScaleWithTheirUpstreamGradient) {
  // dx and dwg are linear in (dout, d_aux, d_z): the loss parts add up.
  Config c = test::tiny_config(Activation::gelu);
  const Problem base = make_random_problem(c, 2, {4, 3}, 6, true, 0.0, 0.0);
  Problem aux = base, z = base, both = base;
  aux.d_aux = 0.5;
  z.d_z = 0.25;
  both.d_aux = 0.5;
  both.d_z = 0.25;
  const Results r0 = run(base, Precision::fp64), ra = run(aux, Precision::fp64),
                rz = run(z, Precision::fp64), rb = run(both, Precision::fp64);
  for (std::size_t rank = 0; rank < 2; ++rank) {
    double aux_part = 0.0, z_part = 0.0;
    for (std::int64_t i = 0; i < rb.ranks[rank].dwg.numel(); ++i) {
      const double g0 = r0.ranks[rank].dwg.get(i);
      EXPECT_NEAR(rb.ranks[rank].dwg.get(i) - g0,
                  (ra.ranks[rank].dwg.get(i) - g0) + (rz.ranks[rank].dwg.get(i) - g0), 1e-14);
      aux_part += std::abs(ra.ranks[rank].dwg.get(i) - g0);
      z_part += std::abs(rz.ranks[rank].dwg.get(i) - g0);
    }
    EXPECT_GT(aux_part, 1e-6);
    EXPECT_GT(z_part, 1e-6);
    // Expert weights do not see the gate losses.
    EXPECT_TRUE(test::bitwise_equal(rb.ranks[rank].dw1, r0.ranks[rank].dw1));
  }
}

}  // namespace
}  // namespace flashmoe::reference
