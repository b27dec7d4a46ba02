// Test-only faults that let the suite prove a failure mode is loud:
// - drop_dispatch_from_rank = r: rank r never sends its dispatch packets, so every rank that
//   waits on it must fail with a TimeoutError naming rank, expert and message instead of hanging;
// - slow_rank = r (below): rank r runs late, so its peers run ahead into the next pass;
// - die_after_dispatch_from_rank = r: rank r's process is killed (SIGKILL: no handler, no
//   unwinding, no MPI clean-up) right after its dispatch signals are raised, so its peers are
//   mid-pass — they hold its rows and wait for things it will never send — and the job must
//   still end, non-zero and in bounded time, with no process left. Host only: a device rank
//   has no process of its own to kill, so the device build ignores it.
#pragma once

#include <cstdint>

#include "flashmoe/macros.hpp"

namespace flashmoe::runtime {

struct FaultInjection {
  int drop_dispatch_from_rank = -1;
  std::uint32_t drop_dispatch_in_pass = 0;  // 0: every pass, else only the pass of that epoch
  int die_after_dispatch_from_rank = -1;
  // slow_rank = r: rank r's weight-gradient (dW1) tasks each sleep slow_seconds first (host
  // only), so its peers finish their backward and run into their next forward — dispatching
  // into r's buffer — while r still reads the previous forward's received rows. What must keep
  // that safe is the double-buffering of received x rows by forward parity.
  int slow_rank = -1;
  double slow_seconds = 0.0;

  FLASHMOE_HOST_DEVICE bool drops_dispatch(int rank, std::uint32_t epoch) const {
    return drop_dispatch_from_rank == rank &&
           (drop_dispatch_in_pass == 0 || drop_dispatch_in_pass == epoch);
  }
};

}  // namespace flashmoe::runtime
