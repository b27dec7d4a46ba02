// The GPU engine's pass numbering (engine/cuda/pass_clock.hpp), run on the CPU: the device runs
// the same function in a one-thread kernel before every pass, so that the replays of a CUDA
// graph get epochs of their own.
#include "engine/cuda/pass_clock.hpp"

#include <gtest/gtest.h>

namespace flashmoe::cuda {
namespace {

using runtime::PassKind;

TEST(PassClock, NumbersEveryPassFromOneAndEachForwardFromZero) {
  PassClock clock;
  EXPECT_EQ(clock.current.epoch, 0u) << "no pass has begun";
  const PassKind order[] = {PassKind::forward, PassKind::backward, PassKind::forward,
                            PassKind::forward, PassKind::backward, PassKind::backward};
  const std::uint32_t forward_index[] = {0, 0, 1, 2, 2, 2};
  for (int i = 0; i < 6; ++i) {
    begin_pass(clock, order[i]);
    EXPECT_EQ(clock.current.epoch, static_cast<std::uint32_t>(i + 1)) << "pass " << i;
    EXPECT_EQ(clock.current.kind, order[i]) << "pass " << i;
    EXPECT_EQ(clock.current.forward_index, forward_index[i])
        << "pass " << i << ": a backward belongs to the latest forward";
  }
  EXPECT_EQ(clock.forwards, 3u);
}

// A replayed graph of forward + backward: consecutive forwards alternate the parity of the x
// rows' double buffer, and each backward reads its own forward's parity.
TEST(PassClock, ReplaysAlternateTheForwardParity) {
  PassClock clock;
  for (std::uint32_t replay = 0; replay < 4; ++replay) {
    begin_pass(clock, PassKind::forward);
    const std::uint32_t forward_parity = clock.current.forward_index % 2;
    EXPECT_EQ(forward_parity, replay % 2);
    begin_pass(clock, PassKind::backward);
    EXPECT_EQ(clock.current.forward_index % 2, forward_parity);
    EXPECT_EQ(clock.current.epoch, 2 * replay + 2);
  }
}

}  // namespace
}  // namespace flashmoe::cuda
