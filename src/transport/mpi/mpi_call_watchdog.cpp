#include "transport/mpi/mpi_call_watchdog.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <vector>

#include "flashmoe/error.hpp"

namespace flashmoe::transport {
namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::atomic<std::uint64_t> next_watchdog_id{1};

// Every thread's slot, for every watchdog. The pool is never destroyed (a thread may exit, and
// return its slot, after static destruction has begun); a deque keeps slot addresses stable.
struct SlotPool {
  std::mutex mutex;
  std::deque<mpi_detail::WatchSlot> slots;
  std::vector<mpi_detail::WatchSlot*> free_slots;
};

SlotPool& slot_pool() {
  static SlotPool* pool = new SlotPool;
  return *pool;
}

// The calling thread's slot, taken from the pool at its first watched call and returned when
// the thread exits.
mpi_detail::WatchSlot& slot_of_this_thread() {
  struct Holder {
    mpi_detail::WatchSlot* slot = nullptr;
    ~Holder() {
      if (slot == nullptr) return;
      slot->watchdog.store(0, std::memory_order_relaxed);
      SlotPool& pool = slot_pool();
      const std::lock_guard lock(pool.mutex);
      pool.free_slots.push_back(slot);
    }
  };
  thread_local Holder holder;
  if (holder.slot == nullptr) {
    SlotPool& pool = slot_pool();
    const std::lock_guard lock(pool.mutex);
    if (pool.free_slots.empty()) {
      holder.slot = &pool.slots.emplace_back();
    } else {
      holder.slot = pool.free_slots.back();
      pool.free_slots.pop_back();
    }
  }
  return *holder.slot;
}

}  // namespace

MpiCallWatchdog::MpiCallWatchdog(int rank, int world_size, double limit_s)
    : rank_(rank),
      world_size_(world_size),
      limit_ns_(static_cast<std::int64_t>(limit_s * 1e9)),
      id_(next_watchdog_id.fetch_add(1)) {
  FLASHMOE_CHECK(limit_s > 0.0, "MPI call watchdog: limit = ", limit_s, " s, must be > 0");
  thread_ = std::thread([this] {
    // The watchdog is what ends a job whose MPI call never returns; if it cannot do its job it
    // must not vanish silently, and an exception escaping a thread would be std::terminate.
    try {
      run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "flashmoe rank %d of %d: error: the MPI call watchdog failed: %s\n",
                   rank_, world_size_, e.what());
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
      std::_Exit(1);
    }
  });
}

MpiCallWatchdog::~MpiCallWatchdog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_.notify_all();
  thread_.join();
}

MpiCallWatchdog::Watch::Watch(MpiCallWatchdog* watchdog, const char* call, int peer) {
  if (watchdog == nullptr) return;
  slot_ = &slot_of_this_thread();
  slot_->call.store(call, std::memory_order_relaxed);
  slot_->peer.store(peer, std::memory_order_relaxed);
  slot_->watchdog.store(watchdog->id_, std::memory_order_relaxed);
  slot_->start_ns.store(now_ns(), std::memory_order_release);  // publishes the three above
}

MpiCallWatchdog::Watch::~Watch() {
  if (slot_ != nullptr) slot_->start_ns.store(0, std::memory_order_release);
}

void MpiCallWatchdog::run() {
  const auto period = std::chrono::nanoseconds(
      std::clamp<std::int64_t>(limit_ns_ / 20, 1'000'000, 100'000'000));  // between 1 ms and 100 ms
  std::unique_lock lock(mutex_);
  while (!stop_.wait_for(lock, period, [this] { return stopping_; })) {
    const std::int64_t now = now_ns();
    SlotPool& pool = slot_pool();
    const std::lock_guard pool_lock(pool.mutex);
    for (const mpi_detail::WatchSlot& slot : pool.slots) {
      const std::int64_t start = slot.start_ns.load(std::memory_order_acquire);
      if (start == 0 || now - start <= limit_ns_ ||
          slot.watchdog.load(std::memory_order_relaxed) != id_)
        continue;
      fire(slot.call.load(std::memory_order_relaxed), slot.peer.load(std::memory_order_relaxed),
           static_cast<double>(now - start) * 1e-9);
    }
  }
}

void MpiCallWatchdog::fire(const char* call, int peer, double seconds) const {
  char towards[32] = "every rank";
  if (peer >= 0) std::snprintf(towards, sizeof towards, "rank %d", peer);
  std::fprintf(stderr,
               "flashmoe rank %d of %d: TimeoutError: %s towards %s has not returned after %.1f s "
               "(limit %.1f s): that rank died or the network failed, and a thread blocked "
               "inside MPI cannot be interrupted; ending the job\n",
               rank_, world_size_, call, towards, seconds, static_cast<double>(limit_ns_) * 1e-9);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);  // MPI_Abort does not return; this is for an MPI that does
}

}  // namespace flashmoe::transport
