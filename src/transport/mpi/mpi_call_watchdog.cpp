#include "transport/mpi/mpi_call_watchdog.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "flashmoe/error.hpp"

namespace flashmoe::transport {
namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::atomic<std::uint64_t> next_watchdog_id{1};

}  // namespace

MpiCallWatchdog::MpiCallWatchdog(int rank, int world_size, double limit_s)
    : rank_(rank),
      world_size_(world_size),
      limit_ns_(static_cast<std::int64_t>(limit_s * 1e9)),
      id_(next_watchdog_id.fetch_add(1)) {
  FLASHMOE_CHECK(limit_s > 0.0, "MPI call watchdog: limit = ", limit_s, " s, must be > 0");
  thread_ = std::thread([this] { run(); });
}

MpiCallWatchdog::~MpiCallWatchdog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_.notify_all();
  thread_.join();
}

mpi_detail::WatchSlot& MpiCallWatchdog::slot_of_this_thread() {
  // A thread keeps its slot for the watchdog it last used; the id (never reused) tells a new
  // watchdog from a destroyed one that had the same address.
  thread_local std::uint64_t owner = 0;
  thread_local mpi_detail::WatchSlot* slot = nullptr;
  if (owner != id_) {
    std::lock_guard lock(mutex_);
    slot = &slots_.emplace_back();
    owner = id_;
  }
  return *slot;
}

MpiCallWatchdog::Watch::Watch(MpiCallWatchdog* watchdog, const char* call, int peer) {
  if (watchdog == nullptr) return;
  slot_ = &watchdog->slot_of_this_thread();
  slot_->call.store(call, std::memory_order_relaxed);
  slot_->peer.store(peer, std::memory_order_relaxed);
  slot_->start_ns.store(now_ns(), std::memory_order_release);  // publishes call and peer
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
    for (const mpi_detail::WatchSlot& slot : slots_) {
      const std::int64_t start = slot.start_ns.load(std::memory_order_acquire);
      if (start == 0 || now - start <= limit_ns_) continue;
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
