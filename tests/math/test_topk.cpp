// math::topk_row: descending order, SPEC §2.2's tie rule (lower index wins), k = n, NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "math/topk.hpp"

namespace flashmoe::math {
namespace {

template <typename T>
std::vector<std::int32_t> topk(const std::vector<T>& values, std::int32_t k,
                               std::vector<T>* chosen = nullptr) {
  std::vector<std::int32_t> index(static_cast<std::size_t>(k), -1);
  std::vector<T> value(static_cast<std::size_t>(k));
  topk_row(values.data(), static_cast<std::int64_t>(values.size()), k, index.data(), value.data());
  if (chosen) *chosen = value;
  return index;
}

using Index = std::vector<std::int32_t>;

TEST(TopK, DescendingOrderWithValues) {
  std::vector<float> chosen;
  EXPECT_EQ(topk<float>({0.1f, 0.5f, 0.2f, 0.9f, 0.3f}, 3, &chosen), (Index{3, 1, 4}));
  EXPECT_EQ(chosen, (std::vector<float>{0.9f, 0.5f, 0.3f}));
  EXPECT_EQ(topk<double>({-3.0, -1.0, -2.0}, 1), (Index{1}));
}

TEST(TopK, TiesGoToTheLowerIndex) {
  EXPECT_EQ(topk<float>({1.0f, 1.0f, 1.0f, 1.0f}, 2), (Index{0, 1}));
  EXPECT_EQ(topk<float>({0.0f, 2.0f, 1.0f, 2.0f, 1.0f}, 4), (Index{1, 3, 2, 4}));
  // A tie at the boundary of the top-k: the lower index is in, the higher is out.
  EXPECT_EQ(topk<double>({0.5, 0.2, 0.7, 0.5}, 2), (Index{2, 0}));
  EXPECT_EQ(topk<double>({0.5, 0.7, 0.2, 0.5}, 2), (Index{1, 0}));
  // Equal values arriving in reverse index order still end in ascending index order.
  EXPECT_EQ(topk<double>({0.1, 0.3, 0.3, 0.3}, 3), (Index{1, 2, 3}));
  // -0 and +0 compare equal: a tie.
  EXPECT_EQ(topk<float>({-0.0f, 0.0f}, 1), (Index{0}));
  EXPECT_EQ(topk<float>({0.0f, -0.0f}, 1), (Index{0}));
}

TEST(TopK, KEqualsNIsAFullSort) {
  EXPECT_EQ(topk<float>({3.0f, 1.0f, 4.0f, 1.0f, 5.0f, 9.0f, 2.0f, 6.0f}, 8),
            (Index{5, 7, 4, 2, 0, 6, 1, 3}));
}

TEST(TopK, SixteenOfManyMatchesAStableSort) {
  std::vector<double> values;
  for (int e = 0; e < 64; ++e) values.push_back(static_cast<double>((e * 37) % 11));  // many ties
  const Index got = topk<double>(values, 16);
  // Reference: repeatedly take the first maximum of what is left.
  std::vector<bool> used(values.size(), false);
  for (std::size_t j = 0; j < 16; ++j) {
    std::int32_t best = -1;
    for (std::int32_t e = 0; e < 64; ++e)
      if (!used[e] && (best < 0 || values[e] > values[best])) best = e;
    used[best] = true;
    EXPECT_EQ(got[j], best) << "slot " << j;
  }
}

TEST(TopK, NaNRanksAfterEveryNumber) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(topk<float>({nan, 1.0f, 2.0f}, 1), (Index{2}));
  EXPECT_EQ(topk<float>({nan, 1.0f, 2.0f}, 2), (Index{2, 1}));
  EXPECT_EQ(topk<float>({nan, 1.0f}, 2), (Index{1, 0}));
  EXPECT_EQ(topk<float>({1.0f, nan, -inf}, 2), (Index{0, 2}));
  EXPECT_EQ(topk<float>({nan, nan, 0.5f}, 3), (Index{2, 0, 1}));
  EXPECT_EQ(topk<double>({std::nan(""), std::nan("")}, 2), (Index{0, 1}));
}

TEST(TopK, RanksBeforeIsAStrictTotalOrder) {
  const double nan = std::nan("");
  EXPECT_TRUE(ranks_before(2.0, 5, 1.0, 0));
  EXPECT_TRUE(ranks_before(1.0, 0, 1.0, 1));
  EXPECT_FALSE(ranks_before(1.0, 1, 1.0, 1));
  EXPECT_TRUE(ranks_before(-1e300, 9, nan, 0));
  EXPECT_FALSE(ranks_before(nan, 0, -1e300, 9));
  EXPECT_TRUE(ranks_before(nan, 0, nan, 1));
  EXPECT_FALSE(ranks_before(nan, 1, nan, 0));
}

}  // namespace
}  // namespace flashmoe::math
