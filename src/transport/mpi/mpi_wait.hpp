// Bounded waits on a signal word of the own buffer (SPEC §6, DESIGN §6): poll, back off
// (spin briefly, then yield — ranks may outnumber cores), and measure time on the steady clock.
// A wait ends in one of three ways:
//   - ready(value) holds: returns the value;
//   - some rank raised abort for pass `epoch` or later: flashmoe::Error naming this rank, the
//     awaited peer, what was awaited, and the rank that raised it;
//   - the word did not change for timeout_s: flashmoe::TimeoutError naming this rank, the peer,
//     what was awaited, the word's offset and its last value.
// The deadline restarts whenever the word changes (a counter that is still moving is progress,
// as in ProgressDeadline).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/wait.hpp"
#include "transport/mpi/mpi_transport.hpp"

namespace flashmoe::transport {

// What a wait is for, for its failure messages: "rank 0 ... waiting for rank 1: <what>".
struct WaitSubject {
  int peer = -1;          // the rank expected to write the word (-1: any rank)
  std::string_view what;  // e.g. "dispatch packet row count (epoch 3)"
};

namespace mpi_detail {
[[noreturn]] void fail_wait_timeout(const MpiTransport& world, std::size_t offset,
                                    std::uint64_t last_value, double timeout_s,
                                    const WaitSubject& subject);
[[noreturn]] void fail_wait_aborted(const MpiTransport& world, const WaitSubject& subject,
                                    std::uint32_t epoch);
}  // namespace mpi_detail

template <typename Ready>
std::uint64_t wait_for_signal(const MpiTransport& world, std::size_t offset, Ready&& ready,
                              double timeout_s, const WaitSubject& subject,
                              std::uint32_t epoch = 1) {
  const ProgressDeadline deadline(timeout_s);
  IdleBackoff backoff;
  std::uint64_t value = world.signal_fetch(offset);
  std::int64_t last_progress_ns = steady_now_ns();
  while (!ready(value)) {
    if (world.aborted(epoch)) mpi_detail::fail_wait_aborted(world, subject, epoch);
    if (deadline.expired(last_progress_ns))
      mpi_detail::fail_wait_timeout(world, offset, value, deadline.seconds(), subject);
    backoff.pause();
    const std::uint64_t next = world.signal_fetch(offset);
    if (next != value) {
      value = next;
      last_progress_ns = steady_now_ns();
      backoff.reset();
    }
  }
  return value;
}

}  // namespace flashmoe::transport
