// MpiProgressThread: one thread per world that enters MPI's progress engine every few tens of
// microseconds, so one-sided operations AIMED AT this process complete even while none of its
// own threads is inside MPI, or while they are inside MPI on a path that does not progress
// what the peers wait for.
//
// Why (measured, Open MPI 4.1.4 + UCX 1.13, docs/mpi.md "osc ucx"): passive-target RMA is
// "one-sided" only where the network applies it in hardware. osc/ucx keeps a pool of UCX
// workers per process (one per calling thread, plus a default worker that peers connect to);
// a thread's blocking RMA call progresses only its own worker, and the rest are progressed by
// opal_progress(), which runs only inside MPI calls that go through the progress engine
// (probes, tests, waits, collectives) — none of which the engine's workers make in a pass.
// Without this thread an expert owner's MPI_Accumulate of a returned-row counter spun in
// ucp_worker_progress forever, and the rank waiting for those rows timed out; with it, every
// --check run passes (osc ucx, 2 and 4 processes, forward and backward). The same holds for
// emulated RMA over TCP (osc rdma/pt2pt on ob1/tcp), where the target's MPI calls apply
// peers' puts. This is the progress-thread remedy MPI implementations themselves document
// (MPICH_ASYNC_PROGRESS, I_MPI_ASYNC_PROGRESS), done portably with MPI_Iprobe.
//
// Cost: one MPI_Iprobe (which runs opal_progress) per interval, ~1–3 µs of CPU each; the thread
// sleeps in between, so with the default 50 µs interval it takes a few percent of one core.
// Needs MPI_THREAD_MULTIPLE (MpiSession refuses less).
#pragma once

#include <mpi.h>

#include <atomic>
#include <thread>

#include "transport/mpi/mpi_call_watchdog.hpp"

namespace flashmoe::transport {

class MpiProgressThread {
 public:
  // The interval the world uses unless FLASHMOE_MPI_PROGRESS_US says otherwise (0 there: no
  // thread; for diagnosis, docs/mpi.md).
  static constexpr int kDefaultIntervalUs = 50;
  // interval_us from the environment variable FLASHMOE_MPI_PROGRESS_US, else the default;
  // throws flashmoe::Error on a value that is not an integer in [0, 100000].
  static int interval_from_environment();

  // Starts probing `comm` (with a tag nobody sends: the probe finds nothing, it only drives
  // progress) every interval_us > 0. Each probe is watched by `watchdog` (may be null), so a
  // probe that never returns ends the job like any other blocked call.
  MpiProgressThread(MPI_Comm comm, int interval_us, MpiCallWatchdog* watchdog);
  // Stops and joins: at most one interval plus one probe. Must run before `comm` is freed.
  ~MpiProgressThread();
  MpiProgressThread(const MpiProgressThread&) = delete;
  MpiProgressThread& operator=(const MpiProgressThread&) = delete;

  // Probes made so far (tests: the thread runs).
  long probes() const { return probes_.load(std::memory_order_relaxed); }

 private:
  void run(MPI_Comm comm, int interval_us, MpiCallWatchdog* watchdog);

  std::atomic<bool> stopping_{false};
  std::atomic<long> probes_{0};
  std::thread thread_;
};

}  // namespace flashmoe::transport
