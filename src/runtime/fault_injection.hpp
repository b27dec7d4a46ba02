// Test-only faults that let the suite prove a failure mode is loud: with
// drop_dispatch_from_rank = r, rank r never sends its dispatch packets, so every rank that
// waits on it must fail with a TimeoutError naming rank, expert and message instead of hanging.
#pragma once

namespace flashmoe::runtime {

struct FaultInjection {
  int drop_dispatch_from_rank = -1;
};

}  // namespace flashmoe::runtime
