// The scheduler's queue: one per rank, many producers (any worker finishing a task, the
// subscriber), many consumers (idle workers). It is sized at set-up to the worst-case number of
// tasks of a pass (WorkspaceLayout::task_capacity) and never wraps within a pass, so a slot is
// written once: a producer reserves an index with fetch_add, writes the task, then publishes
// the slot with a release store; a consumer claims the head index by compare-exchange after
// seeing the slot published. An index past the capacity is a loud failure (push returns false
// and the caller throws or traps), never a dropped task.
#pragma once

#include <cstdint>

#include "flashmoe/macros.hpp"
#include "portable/atomics.hpp"
#include "runtime/task.hpp"

namespace flashmoe::runtime {

struct TaskQueue {
  Task* slots = nullptr;               // [capacity]
  std::uint32_t* published = nullptr;  // [capacity], zero at the start of a pass
  std::uint64_t* head = nullptr;       // consumers' end, on a cache line of its own
  std::uint64_t* tail = nullptr;       // producers' end, on another
  std::uint64_t capacity = 0;

  // False when the queue is full (a sizing bug): the task was NOT queued.
  FLASHMOE_HOST_DEVICE bool push(const Task& task) const {
    const std::uint64_t index =
        portable::fetch_add_acq_rel<portable::Scope::rank>(*tail, std::uint64_t{1});
    if (index >= capacity) return false;
    slots[index] = task;
    portable::store_release<portable::Scope::rank>(published[index], std::uint32_t{1});
    return true;
  }

  // Takes the oldest published task; false when there is none right now.
  FLASHMOE_HOST_DEVICE bool try_pop(Task& task) const {
    std::uint64_t index = portable::load_acquire<portable::Scope::rank>(*head);
    while (index < capacity &&
           portable::load_acquire<portable::Scope::rank>(published[index]) != 0) {
      if (portable::compare_exchange_acq_rel<portable::Scope::rank>(*head, index, index + 1)) {
        task = slots[index];
        return true;
      }
    }
    return false;
  }
};

}  // namespace flashmoe::runtime
