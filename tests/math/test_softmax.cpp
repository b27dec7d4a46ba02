// math::softmax_row: normalisation, stability for large logits, logsumexp.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "math/softmax.hpp"

namespace flashmoe::math {
namespace {

TEST(Softmax, SumsToOneAndMatchesTheDefinition) {
  const std::vector<double> logits{0.3, -1.2, 2.5, 0.0, 0.7};
  std::vector<double> probs(logits.size());
  const double lse = softmax_row(logits.data(), probs.data(), 5);
  double total = 0.0, denominator = 0.0;
  for (double l : logits) denominator += std::exp(l);
  for (std::size_t e = 0; e < 5; ++e) {
    total += probs[e];
    EXPECT_NEAR(probs[e], std::exp(logits[e]) / denominator, 1e-15);
  }
  EXPECT_NEAR(total, 1.0, 1e-15);
  EXPECT_NEAR(lse, std::log(denominator), 1e-14);
}

TEST(Softmax, LargeLogitsDoNotOverflow) {
  const std::vector<float> logits{1000.0f, 999.0f, -1000.0f};
  std::vector<float> probs(3);
  const float lse = softmax_row(logits.data(), probs.data(), 3);
  const float expected0 = 1.0f / (1.0f + std::exp(-1.0f));
  EXPECT_NEAR(probs[0], expected0, 1e-6f);
  EXPECT_NEAR(probs[1], 1.0f - expected0, 1e-6f);
  EXPECT_EQ(probs[2], 0.0f);
  EXPECT_TRUE(std::isfinite(lse));
  EXPECT_NEAR(lse, 1000.0f + std::log1p(std::exp(-1.0f)), 1e-3f);
}

TEST(Softmax, EqualLogitsGiveUniformProbabilities) {
  const std::vector<double> logits(4, -7.5);
  std::vector<double> probs(4);
  const double lse = softmax_row(logits.data(), probs.data(), 4);
  for (double p : probs) EXPECT_EQ(p, 0.25);
  EXPECT_NEAR(lse, -7.5 + std::log(4.0), 1e-15);
}

TEST(Softmax, SingleExpert) {
  const double logit = 3.25;
  double prob = 0.0;
  EXPECT_EQ(softmax_row(&logit, &prob, 1), 3.25);
  EXPECT_EQ(prob, 1.0);
}

TEST(Softmax, ShiftInvariant) {
  const std::vector<double> a{0.1, 0.2, -0.4}, b{100.1, 100.2, 99.6};
  std::vector<double> pa(3), pb(3);
  const double lse_a = softmax_row(a.data(), pa.data(), 3);
  const double lse_b = softmax_row(b.data(), pb.data(), 3);
  for (int e = 0; e < 3; ++e) EXPECT_NEAR(pa[e], pb[e], 1e-13);
  EXPECT_NEAR(lse_b - lse_a, 100.0, 1e-12);
}

}  // namespace
}  // namespace flashmoe::math
