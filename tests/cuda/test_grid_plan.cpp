// The persistent grid's plan (engine/cuda/grid_plan.hpp), plain host code: derived from the
// device's multiprocessors and the kernel's occupancy, shared equally by the ranks, and refused
// — with the numbers that decide it — when it cannot be co-resident (the seed system hung on a
// GPU with fewer SMs than it hard-coded).
#include <gtest/gtest.h>

#include <string>

#include "engine/cuda/grid_plan.hpp"
#include "flashmoe/error.hpp"
#include "support/error_message.hpp"

namespace flashmoe::cuda {
namespace {

GridRequest h200(int world) {
  GridRequest r;
  r.multiprocessors = 132;
  r.blocks_per_multiprocessor = 2;
  r.world_size = world;
  return r;
}

TEST(GridPlan, FillsTheDeviceSharedEquallyByTheRanks) {
  const GridPlan one = plan_grid(h200(1));
  EXPECT_EQ(one.processor_groups, 264);
  EXPECT_EQ(one.blocks_per_rank, 264);
  EXPECT_EQ(one.grid_blocks, 264);
  EXPECT_EQ(one.resident_blocks, 264);
  const GridPlan four = plan_grid(h200(4));
  EXPECT_EQ(four.processor_groups, 66);
  EXPECT_EQ(four.grid_blocks, 264);
  const GridPlan five = plan_grid(h200(5));  // 264 / 5 = 52 per rank, 4 blocks unused
  EXPECT_EQ(five.blocks_per_rank, 52);
  EXPECT_EQ(five.grid_blocks, 260);
}

TEST(GridPlan, FollowsTheDeviceNotAFixedSmCount) {
  GridRequest small = h200(2);
  small.multiprocessors = 20;  // a smaller part of the same family
  small.blocks_per_multiprocessor = 1;
  EXPECT_EQ(plan_grid(small).grid_blocks, 20);
  EXPECT_EQ(plan_grid(small).processor_groups, 10);
}

TEST(GridPlan, DedicatedRolesTakeBlocksOfEachRank) {
  GridRequest r = h200(2);
  r.dedicated_roles = true;
  r.subscribers = 3;
  const GridPlan plan = plan_grid(r);
  EXPECT_EQ(plan.blocks_per_rank, 132);
  EXPECT_EQ(plan.processor_groups, 128);  // 132 − scheduler − 3 subscribers
  EXPECT_NE(plan.describe().find("128 processor groups + 4 role blocks"), std::string::npos)
      << plan.describe();
}

TEST(GridPlan, ReservedMultiprocessorsStayFree) {
  GridRequest r = h200(1);
  r.reserved_multiprocessors = 32;
  const GridPlan plan = plan_grid(r);
  EXPECT_EQ(plan.resident_blocks, 200);
  EXPECT_EQ(plan.grid_blocks, 200);
}

TEST(GridPlan, AnExplicitCountIsKeptWhenItFits) {
  GridRequest r = h200(2);
  r.processor_groups = 10;
  const GridPlan plan = plan_grid(r);
  EXPECT_EQ(plan.processor_groups, 10);
  EXPECT_EQ(plan.grid_blocks, 20);
}

TEST(GridPlan, RefusesWhatCannotBeCoResidentWithTheNumbers) {
  GridRequest r = h200(2);
  r.processor_groups = 133;  // 2 × 133 > 264
  EXPECT_TRUE(test::contains_all(
      test::error_message([&] { plan_grid(r); }),
      {"2 rank(s) × 133 blocks", "holds only 264", "132 SMs × 2 blocks per SM"}));
  GridRequest crowded = h200(300);  // fewer blocks than ranks
  EXPECT_TRUE(
      test::contains_all(test::error_message([&] { plan_grid(crowded); }), {"300 rank(s)", "264"}));
  GridRequest roles = h200(64);
  roles.dedicated_roles = true;
  roles.subscribers = 3;  // 4 blocks per rank leave no processor group
  EXPECT_TRUE(
      test::contains_all(test::error_message([&] { plan_grid(roles); }), {"+ 4 role blocks"}));
  GridRequest fat = h200(1);
  fat.blocks_per_multiprocessor = 0;
  EXPECT_TRUE(test::contains_all(test::error_message([&] { plan_grid(fat); }), {"does not fit"}));
  GridRequest all_reserved = h200(1);
  all_reserved.reserved_multiprocessors = 132;
  EXPECT_TRUE(test::contains_all(test::error_message([&] { plan_grid(all_reserved); }),
                                 {"reserved multiprocessors = 132", "0 to 131"}));
}

}  // namespace
}  // namespace flashmoe::cuda
