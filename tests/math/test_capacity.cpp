// math::expert_capacity (SPEC §2.4) and math::assign_slots (SPEC §2.5).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "math/capacity.hpp"

namespace flashmoe::math {
namespace {

TEST(ExpertCapacity, Formula) {
  // ceil(1.0 · 16 · 2 / 8) = 4.
  EXPECT_EQ(expert_capacity(16, 2, 8, 1.0, true), 4);
  // Non-integer factor: ceil(1.25 · 10 · 2 / 8) = ceil(3.125) = 4.
  EXPECT_EQ(expert_capacity(10, 2, 8, 1.25, true), 4);
  // ceil(1.25 · 8 · 1 / 4) = ceil(2.5) = 3; ceil(1.25 · 16 · 1 / 4) = 5 exactly.
  EXPECT_EQ(expert_capacity(8, 1, 4, 1.25, true), 3);
  EXPECT_EQ(expert_capacity(16, 1, 4, 1.25, true), 5);
  // ceil(0.5 · 7 · 3 / 4) = ceil(2.625) = 3.
  EXPECT_EQ(expert_capacity(7, 3, 4, 0.5, true), 3);
}

TEST(ExpertCapacity, NoTokensMeansNoCapacity) {
  EXPECT_EQ(expert_capacity(0, 2, 8, 1.25, true), 0);
  EXPECT_EQ(expert_capacity(0, 2, 8, 1.25, false), 0);
}

TEST(ExpertCapacity, DroplessIsEveryToken) {
  EXPECT_EQ(expert_capacity(13, 2, 8, 0.01, false), 13);
  EXPECT_EQ(expert_capacity(1, 1, 64, 1.0, false), 1);
}

TEST(ExpertCapacity, ClampedToAtLeastOne) {
  // A positive factor·S·k/E rounds up to at least 1 by itself; only a product that underflows
  // to 0 reaches the clamp: the smallest subnormal factor, 4.9e-324 · 1 · 1 / 2, is 0 in double.
  const double smallest = 4.9e-324;
  ASSERT_EQ(smallest * 1.0 / 2.0, 0.0) << "the case must underflow, or it does not reach the clamp";
  EXPECT_EQ(expert_capacity(1, 1, 2, smallest, true), 1);
  EXPECT_EQ(expert_capacity(4, 1, 64, 1e-9, true), 1);  // ceil of a tiny positive number
}

TEST(ExpertCapacity, ClampedToAtMostTheTokens) {
  // ceil(4 · 10 · 2 / 4) = 20 > 10 tokens.
  EXPECT_EQ(expert_capacity(10, 2, 4, 4.0, true), 10);
  // k = E: ceil(1.0 · S · E / E) = S.
  EXPECT_EQ(expert_capacity(9, 4, 4, 1.0, true), 9);
}

struct Assignment {
  std::vector<std::uint8_t> kept;
  std::vector<std::int32_t> position;
  std::vector<std::int64_t> routed, accepted;
};

Assignment assign(const std::vector<std::int32_t>& topk_index, std::int64_t tokens, std::int64_t k,
                  std::int64_t experts, std::int64_t capacity) {
  Assignment a;
  a.kept.assign(topk_index.size(), 7);  // garbage that must be overwritten
  a.position.assign(topk_index.size(), 7);
  a.routed.assign(static_cast<std::size_t>(experts), 99);
  a.accepted.assign(static_cast<std::size_t>(experts), 99);
  assign_slots(topk_index.data(), tokens, k, experts, capacity, a.kept.data(), a.position.data(),
               a.routed.data(), a.accepted.data());
  return a;
}

using Kept = std::vector<std::uint8_t>;
using Positions = std::vector<std::int32_t>;
using Counts = std::vector<std::int64_t>;

TEST(AssignSlots, KeepsTheFirstTokensInTokenOrder) {
  // 5 tokens, k = 1, all to expert 1, capacity 2: tokens 0 and 1 keep, 2..4 drop.
  const Assignment a = assign({1, 1, 1, 1, 1}, 5, 1, 3, 2);
  EXPECT_EQ(a.kept, (Kept{1, 1, 0, 0, 0}));
  EXPECT_EQ(a.position, (Positions{0, 1, -1, -1, -1}));
  EXPECT_EQ(a.routed, (Counts{0, 5, 0}));
  EXPECT_EQ(a.accepted, (Counts{0, 2, 0}));
}

TEST(AssignSlots, PositionsCountPerExpertAcrossSlots) {
  // k = 2; token t's slots are [2t, 2t+1].  Expert 0 is chosen by tokens 0 (slot 0), 1 (slot 1),
  // 2 (slot 0), 3 (slot 1); capacity 3 drops token 3's slot 1 — later token, whatever the slot.
  const std::vector<std::int32_t> index{0, 2,  //
                                        1, 0,  //
                                        0, 1,  //
                                        2, 0};
  const Assignment a = assign(index, 4, 2, 3, 3);
  EXPECT_EQ(a.kept, (Kept{1, 1, 1, 1, 1, 1, 1, 0}));
  EXPECT_EQ(a.position, (Positions{0, 0, 0, 1, 2, 1, 1, -1}));
  EXPECT_EQ(a.routed, (Counts{4, 2, 2}));
  EXPECT_EQ(a.accepted, (Counts{3, 2, 2}));
}

TEST(AssignSlots, CapacityLargeEnoughKeepsEverything) {
  const Assignment a = assign({3, 0, 1, 3, 2, 0}, 3, 2, 4, 3);
  EXPECT_EQ(a.kept, (Kept{1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(a.routed, a.accepted);
  EXPECT_EQ(a.routed, (Counts{2, 1, 1, 2}));
}

TEST(AssignSlots, ZeroTokensResetsTheCounts) {
  const Assignment a = assign({}, 0, 2, 4, 0);
  EXPECT_EQ(a.routed, (Counts{0, 0, 0, 0}));
  EXPECT_EQ(a.accepted, (Counts{0, 0, 0, 0}));
}

}  // namespace
}  // namespace flashmoe::math
