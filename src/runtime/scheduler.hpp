// The scheduler: hands tasks to idle processors through the rank's bounded queue and keeps the
// count of unfinished work that decides when the pass is over. Invariant: pending_tasks counts
// every pushed task until it finished AND pushed its follow-ons, because schedule() raises it
// before the push and the worker lowers it only after execute() returned.
#pragma once

#include "platform/cpu/atomics.hpp"
#include "runtime/platform_interface.hpp"
#include "runtime/rank_state.hpp"

namespace flashmoe::runtime {

template <typename T>
FLASHMOE_HOST_DEVICE inline void schedule(const RankState<T>& state, const Task& task) {
  platform::fetch_add_acq_rel(state.control().pending_tasks, std::uint64_t{1});
  if (!state.queue().push(task))
    fail_queue_overflow(state.rank, static_cast<std::uint64_t>(state.layout.task_capacity));
}

template <typename T>
FLASHMOE_HOST_DEVICE inline void finish_task(const RankState<T>& state) {
  platform::fetch_sub_acq_rel(state.control().pending_tasks, std::uint64_t{1});
}

// The pass of this rank is over: every arrival was subscribed and every task finished.
template <typename T>
FLASHMOE_HOST_DEVICE inline bool pass_finished(const RankState<T>& state) {
  RankControl& c = state.control();
  return platform::load_acquire(c.subscriber_done) != 0 &&
         platform::load_acquire(c.pending_tasks) == 0;
}

}  // namespace flashmoe::runtime
