// Tiny problems whose outputs are computed by hand in the test (SPEC §2.1–2.7).
#include <gtest/gtest.h>

#include <cmath>

#include "hand_problem.hpp"
#include "reference/reference.hpp"
#include "support/tensor_compare.hpp"

namespace flashmoe::reference {
namespace {

using test::tensor;

double sigmoid(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}

// H = 2, P = 2, E = 2, k = 1, identity activation, no bias, one rank, two tokens.
//   wg = I  → token 0 (x = [1, 0]) picks expert 0, token 1 (x = [0, 2]) picks expert 1.
//   expert 0: w1 = [[1, 2], [3, 4]], w2 = I           → y(x0) = [1, 3]
//   expert 1: w1 = [[0, 1], [1, 0]], w2 = [[2, 0], [0, −1]] → z(x1) = [2, 0], y = [4, 0]
Problem identity_problem(bool normalize) {
  const Config c{.hidden = 2,
                 .ffn = 2,
                 .experts = 2,
                 .top_k = 1,
                 .activation = Activation::identity,
                 .normalize_weights = normalize,
                 .dtype = DType::fp64};
  Problem p = test::empty_problem(c, 1);
  p.wg = tensor({2, 2}, {1, 0, 0, 1});
  RankInputs in;
  in.x = tensor({2, 2}, {1, 0, 0, 2});
  in.w1 = tensor({2, 2, 2}, {1, 2, 3, 4, 0, 1, 1, 0});
  in.w2 = tensor({2, 2, 2}, {1, 0, 0, 1, 2, 0, 0, -1});
  p.ranks.push_back(in);
  return p;
}

TEST(HandCases, IdentityTopOneNormalized) {
  const Results r = run(identity_problem(true), Precision::fp64);
  const RankOutputs& out = r.ranks[0];
  EXPECT_EQ(out.out.type(), ElementType::f64);
  const double expected[] = {1, 3, 4, 0};  // weight 1 with k = 1 and normalisation
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(out.out.get(i), expected[i]) << i;
  EXPECT_EQ(out.routing.topk_index.get(0), 0);
  EXPECT_EQ(out.routing.topk_index.get(1), 1);
  EXPECT_EQ(out.routing.topk_weight.get(0), 1.0);
  EXPECT_EQ(out.routing.topk_weight.type(), ElementType::f64);
  EXPECT_EQ(out.routing.kept.get(0), 1);
  EXPECT_EQ(out.routing.kept.get(1), 1);
  EXPECT_EQ(out.routing.routed, (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(out.routing.accepted, (std::vector<std::int64_t>{1, 1}));
}

TEST(HandCases, IdentityTopOneUnnormalizedUsesTheProbability) {
  const Results r = run(identity_problem(false), Precision::fp64);
  const RankOutputs& out = r.ranks[0];
  // Token 0: logits [1, 0] → p0 = σ(1). Token 1: logits [0, 2] → p1 = σ(2).
  const double w0 = sigmoid(1.0), w1 = sigmoid(2.0);
  EXPECT_NEAR(out.routing.topk_weight.get(0), w0, 1e-15);
  EXPECT_NEAR(out.routing.topk_weight.get(1), w1, 1e-15);
  EXPECT_NEAR(out.out.get(0), 1 * w0, 1e-15);
  EXPECT_NEAR(out.out.get(1), 3 * w0, 1e-15);
  EXPECT_NEAR(out.out.get(2), 4 * w1, 1e-15);
  EXPECT_EQ(out.out.get(3), 0.0);
}

// H = 2, P = 2, E = 2, k = 2, relu with bias, one token x = [1, −1], wg = [[1, 0], [0, 0]].
//   logits [1, 0] → p = [σ(1), σ(−1)], both experts, weights = p (they already sum to 1).
//   expert 0: z = [1 − 1 + 0.5, 2 − 3] = [0.5, −1] → h = [0.5, 0];
//             y = [[1, 2], [−1, 4]]·h + [0.25, 0] = [0.75, −0.5]
//   expert 1: z = [0 + 1, 1 − 1] = [1, 0] → h = [1, 0] (relu(0) = 0);
//             y = [[3, 0], [0, 1]]·h + [0, 1] = [3, 1]
TEST(HandCases, ReluWithBiasTopTwo) {
  const Config c{.hidden = 2,
                 .ffn = 2,
                 .experts = 2,
                 .top_k = 2,
                 .activation = Activation::relu,
                 .bias = true,
                 .dtype = DType::fp64};
  Problem p = test::empty_problem(c, 1);
  p.wg = tensor({2, 2}, {1, 0, 0, 0});
  RankInputs in;
  in.x = tensor({1, 2}, {1, -1});
  in.w1 = tensor({2, 2, 2}, {1, 1, 2, 0, /**/ 0, -1, 1, 1});
  in.b1 = tensor({2, 2}, {0.5, -3, /**/ 0, 0});
  in.w2 = tensor({2, 2, 2}, {1, 2, -1, 4, /**/ 3, 0, 0, 1});
  in.b2 = tensor({2, 2}, {0.25, 0, /**/ 0, 1});
  p.ranks.push_back(in);
  const RankOutputs out = run(p, Precision::fp64).ranks[0];
  const double p0 = sigmoid(1.0), p1 = sigmoid(-1.0);
  EXPECT_EQ(out.routing.topk_index.get(0), 0);
  EXPECT_EQ(out.routing.topk_index.get(1), 1);
  EXPECT_NEAR(out.out.get(0), p0 * 0.75 + p1 * 3.0, 1e-15);
  EXPECT_NEAR(out.out.get(1), p0 * -0.5 + p1 * 1.0, 1e-15);
}

// Gated: H = 1, P = 1, E = 1, k = 1, x = [2], w1 = [[0.5], [3]] → g = 1, u = 6.
//   swiglu: h = silu(1)·6 = 6σ(1);  geglu: h = gelu(1)·6 = 6Φ(1).  w2 = [[2]] → y = 2h.
TEST(HandCases, GatedActivationsUseRowsZeroToPForTheGate) {
  for (Activation a : {Activation::swiglu, Activation::geglu}) {
    const Config c{
        .hidden = 1, .ffn = 1, .experts = 1, .top_k = 1, .activation = a, .dtype = DType::fp64};
    Problem p = test::empty_problem(c, 1);
    RankInputs in;
    in.x = tensor({1, 1}, {2});
    in.w1 = tensor({1, 2, 1}, {0.5, 3});
    in.w2 = tensor({1, 1, 1}, {2});
    p.ranks.push_back(in);
    const double phi1 = 0.5 * (1.0 + std::erf(1.0 / std::sqrt(2.0)));
    const double gate = a == Activation::swiglu ? sigmoid(1.0) : phi1;
    EXPECT_NEAR(run(p, Precision::fp64).ranks[0].out.get(0), 2.0 * 6.0 * gate, 1e-14)
        << to_string(a);
  }
}

// Two ranks: the token on rank 1 is served by expert 0, whose weights live on rank 0.
TEST(HandCases, ExpertsRunOnTheirOwnerRanksWeights) {
  const Config c{.hidden = 1,
                 .ffn = 1,
                 .experts = 2,
                 .top_k = 1,
                 .activation = Activation::identity,
                 .dtype = DType::fp64};
  Problem p = test::empty_problem(c, 2);
  p.wg = tensor({2, 1}, {1, -1});  // x > 0 → expert 0, x < 0 → expert 1
  RankInputs r0, r1;
  r0.x = tensor({1, 1}, {-1});  // → expert 1 (rank 1)
  r0.w1 = tensor({1, 1, 1}, {2});
  r0.w2 = tensor({1, 1, 1}, {5});
  r1.x = tensor({2, 1}, {3, -2});  // → expert 0 (rank 0), expert 1 (rank 1)
  r1.w1 = tensor({1, 1, 1}, {7});
  r1.w2 = tensor({1, 1, 1}, {0.5});
  p.ranks = {r0, r1};
  const Results r = run(p, Precision::fp64);
  EXPECT_EQ(r.ranks[0].out.get(0), -1 * 7 * 0.5);
  EXPECT_EQ(r.ranks[1].out.get(0), 3 * 2 * 5);
  EXPECT_EQ(r.ranks[1].out.get(1), -2 * 7 * 0.5);
}

// Backward by hand for the identity problem above (k = 1, normalised, so no gate gradient):
//   dout = ones → dy = dout, dw2[e] = dy ⊗ h, dx = w1ᵀ·w2ᵀ·dy.
TEST(HandCases, IdentityBackward) {
  Problem p = identity_problem(true);
  p.backward = true;
  p.ranks[0].dout = tensor({2, 2}, {1, 1, 1, 1});
  const RankOutputs out = run(p, Precision::fp64).ranks[0];
  // Token 0, expert 0: h = [1, 3]; dh = w2ᵀ·[1, 1] = [1, 1]; dx = w1ᵀ·[1, 1] = [4, 6].
  // Token 1, expert 1: h = [2, 0]; dh = [2, −1]; dx = [[0, 1], [1, 0]]ᵀ·[2, −1] = [−1, 2].
  const double dx[] = {4, 6, -1, 2};
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(out.dx.get(i), dx[i]) << i;
  const double dw2[] = {1, 3, 1, 3, /**/ 2, 0, 2, 0};
  for (int i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ(out.dw2.get(i), dw2[i]) << i;
  // dw1[e] = dh ⊗ x: expert 0: [1, 1] ⊗ [1, 0]; expert 1: [2, −1] ⊗ [0, 2].
  const double dw1[] = {1, 0, 1, 0, /**/ 0, 4, 0, -2};
  for (int i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ(out.dw1.get(i), dw1[i]) << i;
  EXPECT_TRUE(test::all_zero(out.dwg));
  EXPECT_FALSE(out.db1.defined());  // bias off
}

}  // namespace
}  // namespace flashmoe::reference
