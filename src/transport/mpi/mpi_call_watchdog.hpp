// MpiCallWatchdog: ends the job when an MPI call towards a peer does not return.
//
// The engine's waits are bounded, but they run BETWEEN MPI calls. Some one-sided components
// block forever INSIDE a call towards a process that died — Open MPI 4.1.4's osc/ucx sits in
// MPI_Win_flush or MPI_Accumulate (in ucp_worker_progress) when the launcher keeps the job
// alive after the death (mpirun --enable-recovery) — so the wait that would report the dead
// peer never runs, and a thread blocked inside MPI cannot be interrupted. The watchdog is a
// thread that sees every call of the transport towards another rank (put, signal, abort)
// while it is in flight; when one has not returned within the limit it prints
//   flashmoe rank R of W: TimeoutError: MPI_Win_flush towards rank Q (signal_store) has not
//   returned after N s ...
// on stderr and calls MPI_Abort, the only way out. It never fires for calls that return: a
// flush to a live peer takes microseconds to milliseconds, the limit is the engine's wait
// timeout (seconds).
//
// Cost per watched call: a few atomic stores and a steady-clock read into this thread's own
// slot; no lock after a thread's first call. Slots come from one process-wide pool and return
// to it when their thread exits, so the pool stays as large as the most threads that were ever
// alive at once (the engine starts new workers every pass). The watchdog thread wakes every
// limit/20 (at most 100 ms) and reads the slots that watch for it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace flashmoe::transport {

namespace mpi_detail {
// One thread's watched call in flight: start_ns = 0 when none; `watchdog` says whose.
struct WatchSlot {
  std::atomic<std::int64_t> start_ns{0};
  std::atomic<const char*> call{nullptr};
  std::atomic<int> peer{0};
  std::atomic<std::uint64_t> watchdog{0};
};
}  // namespace mpi_detail

class MpiCallWatchdog {
 public:
  // Starts the watching thread. limit_s > 0.
  MpiCallWatchdog(int rank, int world_size, double limit_s);
  // Stops and joins it.
  ~MpiCallWatchdog();
  MpiCallWatchdog(const MpiCallWatchdog&) = delete;
  MpiCallWatchdog& operator=(const MpiCallWatchdog&) = delete;

  // Marks the calling thread as inside `call` (a string literal, e.g. "MPI_Win_flush in
  // signal_store") towards `peer` (−1: every rank) until destroyed. Calls do not nest.
  class Watch {
   public:
    Watch(MpiCallWatchdog* watchdog, const char* call, int peer);
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

   private:
    mpi_detail::WatchSlot* slot_ = nullptr;
  };

 private:
  void run();
  [[noreturn]] void fire(const char* call, int peer, double seconds) const;

  const int rank_, world_size_;
  const std::int64_t limit_ns_;
  const std::uint64_t id_;  // which slots are this watchdog's (never reused)
  std::mutex mutex_;        // guards stopping_
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace flashmoe::transport
