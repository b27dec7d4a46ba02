// The packet signal word: epoch and row count round-trip, an empty packet is still a signal,
// and a word from another pass never reads as this pass's.
#include <gtest/gtest.h>

#include "runtime/signal_word.hpp"

namespace flashmoe::runtime {
namespace {

TEST(SignalWord, RoundTripsEpochAndRows) {
  for (const std::uint32_t epoch : {1u, 2u, 77u, 0xffffffffu}) {
    for (const std::uint32_t rows : {0u, 1u, 129u, 0xffffffffu}) {
      const std::uint64_t word = encode_signal(epoch, rows);
      EXPECT_EQ(signal_epoch(word), epoch);
      EXPECT_EQ(signal_rows(word), rows);
    }
  }
}

TEST(SignalWord, EmptyPacketIsNotSilenceAndEpochsDiffer) {
  EXPECT_NE(encode_signal(1, 0), 0u) << "a zero-row packet must still be visible";
  EXPECT_NE(signal_epoch(encode_signal(3, 5)), 4u);
  EXPECT_EQ(signal_epoch(0), 0u) << "zeroed buffers carry epoch 0, which no pass uses";
}

}  // namespace
}  // namespace flashmoe::runtime
