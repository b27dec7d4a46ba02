// Scheduling of one rank's tasks. Every ready task goes into the rank's bounded ready queue;
// how it reaches a processor is the scheduling mode's (program.hpp): idle processor groups take
// it themselves (roles taken by idle workers), or the scheduler role hands it to one group's
// mailbox (dedicated roles). Invariant: pending_tasks counts every pushed task until it finished
// AND pushed its follow-ons, because schedule() raises it before the push and the processor
// lowers it only after the task returned. A rank's pass is over when every subscriber partition
// has turned all its expected arrivals into tasks and pending_tasks is 0.
#pragma once

#include "portable/atomics.hpp"
#include "runtime/invariant.hpp"
#include "runtime/rank_state.hpp"

namespace flashmoe::runtime {

template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline void schedule(const RankState<T, Transport>& s, const Task& task) {
  portable::fetch_add_acq_rel<Scope::rank>(s.control().pending_tasks, std::uint64_t{1});
  const TaskQueue queue = s.queue();
  if (!queue.push(task)) fail_queue_overflow(s.broken_invariant, s.rank, queue.capacity);
}

template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline void finish_task(const RankState<T, Transport>& s) {
  portable::fetch_sub_acq_rel<Scope::rank>(s.control().pending_tasks, std::uint64_t{1});
}

template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline bool subscribers_done(const RankState<T, Transport>& s) {
  for (std::int64_t p = 0; p < s.layout.shape.subscriber_partitions; ++p)
    if (portable::load_acquire<Scope::rank>(s.partition(p).done) == 0) return false;
  return true;
}

// The pass of this rank is over: every arrival was subscribed and every task finished.
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline bool pass_finished(const RankState<T, Transport>& s) {
  return subscribers_done(s) && portable::load_acquire<Scope::rank>(s.control().pending_tasks) == 0;
}

}  // namespace flashmoe::runtime
