// Test-only faults that let the suite prove a failure mode is loud:
// - drop_dispatch_from_rank = r: rank r never sends its dispatch packets, so every rank that
//   waits on it must fail with a TimeoutError naming rank, expert and message instead of hanging;
// - die_after_dispatch_from_rank = r: rank r's process is killed (SIGKILL: no handler, no
//   unwinding, no MPI clean-up) right after its dispatch signals are raised, so its peers are
//   mid-pass — they hold its rows and wait for things it will never send — and the job must
//   still end, non-zero and in bounded time, with no process left. Host only: a device rank
//   has no process of its own to kill, so the device build ignores it.
#pragma once

namespace flashmoe::runtime {

struct FaultInjection {
  int drop_dispatch_from_rank = -1;
  int die_after_dispatch_from_rank = -1;
};

}  // namespace flashmoe::runtime
