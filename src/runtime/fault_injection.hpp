// Test-only faults that let the suite prove a failure mode is loud:
// - drop_dispatch_from_rank = r: rank r never sends its dispatch packets, so every rank that
//   waits on it must fail with a TimeoutError naming rank, expert and message instead of hanging;
// - slow_rank = r (below): rank r runs late, so its peers run ahead into their next pass;
// - die_after_dispatch_from_rank = r: rank r's process is killed (SIGKILL: no handler, no
//   unwinding, no MPI clean-up) right after its dispatch signals are raised, so its peers are
//   mid-pass — they hold its rows and wait for things it will never send — and the job must
//   still end, non-zero and in bounded time, with no process left. Host only: a device rank
//   has no process of its own to kill, so the device build ignores it;
// - queue_capacity_limit = n > 0: every rank's ready queue holds at most n tasks, the sizing bug
//   a broken invariant reports (invariant.hpp): the pass must end with "task queue overflow"
//   naming the rank and n — a flashmoe::Error on the CPU, the kernel's record and trap on a GPU.
#pragma once

#include <cstdint>

#include "flashmoe/macros.hpp"

namespace flashmoe::runtime {

struct FaultInjection {
  int drop_dispatch_from_rank = -1;
  std::uint32_t drop_dispatch_in_pass = 0;  // 0: every pass, else only the pass of that epoch
  int die_after_dispatch_from_rank = -1;
  std::uint64_t queue_capacity_limit = 0;  // 0: the layout's capacity
  // slow_rank = r: rank r sleeps slow_seconds (host only) at the point slow_at names, so its
  // peers run ahead into their next pass while r is still in this one:
  // - dw1_tasks: before each weight-gradient (dW1) task — peers finish their backward and
  //   dispatch their next forward into r's buffer while r still reads the previous forward's
  //   received rows (kept safe by the x rows' double-buffering by forward parity);
  // - after_dispatch_signals: right after r raised its dispatch signals, before it looks at its
  //   own — a peer whose packets to r carry no rows needs nothing back from r, finishes the
  //   pass and signals its next pass to r before r saw this pass's signal (kept safe by the
  //   packet signals' two slots by epoch parity).
  enum class SlowAt : std::uint8_t { dw1_tasks, after_dispatch_signals };
  int slow_rank = -1;
  double slow_seconds = 0.0;
  SlowAt slow_at = SlowAt::dw1_tasks;

  FLASHMOE_HOST_DEVICE bool slows(int rank, SlowAt at) const {
    return slow_rank == rank && slow_at == at;
  }

  FLASHMOE_HOST_DEVICE std::uint64_t queue_capacity(std::uint64_t sized) const {
    return queue_capacity_limit != 0 && queue_capacity_limit < sized ? queue_capacity_limit : sized;
  }

  FLASHMOE_HOST_DEVICE bool drops_dispatch(int rank, std::uint32_t epoch) const {
    return drop_dispatch_from_rank == rank &&
           (drop_dispatch_in_pass == 0 || drop_dispatch_in_pass == epoch);
  }
};

}  // namespace flashmoe::runtime
