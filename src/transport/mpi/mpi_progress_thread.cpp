#include "transport/mpi/mpi_progress_thread.hpp"

#include <chrono>
#include <cstdlib>
#include <string>

#include "flashmoe/error.hpp"

namespace flashmoe::transport {
namespace {

// A tag no part of flashmoe sends on the world's (duplicated) communicator.
constexpr int kProgressTag = 0x7f1e;

}  // namespace

int MpiProgressThread::interval_from_environment() {
  const char* text = std::getenv("FLASHMOE_MPI_PROGRESS_US");
  if (text == nullptr || *text == '\0') return kDefaultIntervalUs;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  FLASHMOE_CHECK(*end == '\0' && value >= 0 && value <= 100000,
                 "FLASHMOE_MPI_PROGRESS_US='", text,
                 "': must be an integer number of microseconds in [0, 100000] "
                 "(0: no progress thread)");
  return static_cast<int>(value);
}

MpiProgressThread::MpiProgressThread(MPI_Comm comm, int interval_us, MpiCallWatchdog* watchdog) {
  FLASHMOE_CHECK(interval_us > 0, "MPI progress thread: interval ", interval_us,
                 " us, must be > 0");
  thread_ = std::thread([this, comm, interval_us, watchdog] { run(comm, interval_us, watchdog); });
}

MpiProgressThread::~MpiProgressThread() {
  stopping_.store(true, std::memory_order_relaxed);
  thread_.join();
}

void MpiProgressThread::run(MPI_Comm comm, int interval_us, MpiCallWatchdog* watchdog) {
  const auto interval = std::chrono::microseconds(interval_us);
  while (!stopping_.load(std::memory_order_relaxed)) {
    {
      const MpiCallWatchdog::Watch watch(watchdog, "MPI_Iprobe of the progress thread", -1);
      int found = 0;
      // Errors are ignored: a failed probe means MPI is failing, which the engine's own calls
      // report with their context; this thread has no caller to tell.
      MPI_Iprobe(MPI_ANY_SOURCE, kProgressTag, comm, &found, MPI_STATUS_IGNORE);
    }
    probes_.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace flashmoe::transport
