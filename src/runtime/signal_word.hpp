// The 64-bit signal word of a packet: epoch << 32 | rows. The epoch numbers the pass that
// sent it, so a word left over from an earlier pass (same slot: WorkspaceLayout::packet_signal
// alternates two slots by epoch parity) is never mistaken for this pass's packet, and an expert with no rows still receives one signal
// (rows = 0) — the receiver never has to guess whether a packet is coming.
#pragma once

#include <cstdint>

#include "flashmoe/macros.hpp"

namespace flashmoe::runtime {

FLASHMOE_HOST_DEVICE inline std::uint64_t encode_signal(std::uint32_t epoch, std::uint32_t rows) {
  return (static_cast<std::uint64_t>(epoch) << 32) | rows;
}
FLASHMOE_HOST_DEVICE inline std::uint32_t signal_epoch(std::uint64_t word) {
  return static_cast<std::uint32_t>(word >> 32);
}
FLASHMOE_HOST_DEVICE inline std::uint32_t signal_rows(std::uint64_t word) {
  return static_cast<std::uint32_t>(word & 0xffffffffu);
}

}  // namespace flashmoe::runtime
