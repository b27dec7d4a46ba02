// How the portable runtime reports a broken invariant on the CPU: a flashmoe::Error naming the
// rank and what broke (the device build prints the same and traps).
#pragma once

#include <cstdint>

namespace flashmoe::platform {

[[noreturn]] void fail_queue_overflow(int rank, std::uint64_t capacity);
[[noreturn]] void fail_packet_mismatch(int rank, int source_rank, int local_expert,
                                       std::uint64_t forward_rows, std::uint64_t gradient_rows);

}  // namespace flashmoe::platform
