// The host↔program channel of one layer on the CPU: the only thing the host and the program's
// threads share besides the tensors. The host submits passes into a ring of slots and waits for
// them; each participant's leader waits for the next pass number, runs it and moves on. Passes
// are numbered by their epoch (1, 2, ...), the slot of epoch e is e % depth, and the host reuses
// a slot only after it collected the pass that held it.
//
// Failure: the first error of a pass (a participant's exception, a bounded wait that expired) is
// kept in its slot and poisons the channel: every pass that starts while poisoned is cancelled
// (its participants raise the world's abort for it at once), so no rank starts real work while
// another may still be leaving the failed pass. The host lifts the poison when it collects the
// failed pass, after every pass in flight has ended.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <vector>

#include "platform/cpu/thread_group.hpp"
#include "platform/cpu/trace.hpp"
#include "runtime/rank_state.hpp"

namespace flashmoe::engine {

// Time spent by one participant in one pass.
struct ParticipantStats {
  platform::WorkerStats stats;
  std::int64_t begin_ns = 0;  // entering the pass
  std::int64_t end_ns = 0;    // leaving it
};

template <typename T>
struct PassSlot {
  runtime::PassDescriptor descriptor;
  std::vector<runtime::PassBinding<T>> bindings;  // [world size]; local ranks' entries only
  std::vector<double> losses;                     // [world size][2]: aux, z (forward)
  std::vector<ParticipantStats> participants;     // [local ranks × participants per rank]
  std::mutex error_mutex;
  std::exception_ptr error;            // the pass's first error
  std::atomic<bool> cancelled{false};  // a participant cancelled it (an earlier pass failed)
  bool collected = true;               // the host has taken its results (the slot may be reused)
  Results* outputs = nullptr;
};

template <typename T>
class PassChannel {
 public:
  PassChannel(std::size_t depth, std::size_t participants)
      : slots_(depth), participants_(participants) {
    for (PassSlot<T>& slot : slots_) slot.participants.resize(participants);
  }

  std::size_t depth() const { return slots_.size(); }
  PassSlot<T>& slot(std::uint64_t epoch) { return slots_[epoch % slots_.size()]; }
  cpu::PassCompletion& completion() { return completion_; }

  // Host: the pass in slot(epoch) is filled in; let the program run it.
  void publish(std::uint64_t epoch) {
    {
      const std::lock_guard lock(mutex_);
      submitted_ = epoch;
    }
    changed_.notify_all();
  }
  // Host: no more passes; participants leave once they finished what was submitted.
  void stop() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
  }
  // A participant's leader: blocks until pass `epoch` was submitted (true) or the channel stops
  // with nothing left to run (false). Between passes the program's threads sleep here.
  bool wait_for_pass(std::uint64_t epoch) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return submitted_ >= epoch || stopping_; });
    return submitted_ >= epoch;
  }

  // A participant of pass `epoch` failed: keep the first error, poison the channel.
  void record_error(std::uint64_t epoch, std::exception_ptr error) {
    PassSlot<T>& s = slot(epoch);
    {
      const std::lock_guard lock(s.error_mutex);
      if (!s.error) s.error = std::move(error);
    }
    const std::lock_guard lock(mutex_);
    if (poisoned_since_ == 0 || epoch < poisoned_since_) poisoned_since_ = epoch;
  }
  // Whether pass `epoch` must be cancelled because an earlier or the same pass failed.
  bool cancelled(std::uint64_t epoch) {
    const std::lock_guard lock(mutex_);
    return poisoned_since_ != 0 && epoch >= poisoned_since_;
  }
  void lift_poison() {
    const std::lock_guard lock(mutex_);
    poisoned_since_ = 0;
  }

 private:
  std::vector<PassSlot<T>> slots_;
  std::size_t participants_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t submitted_ = 0;
  std::uint64_t poisoned_since_ = 0;
  bool stopping_ = false;
  cpu::PassCompletion completion_;
};

}  // namespace flashmoe::engine
