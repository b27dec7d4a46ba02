// A fixed pool of threads for the bulk-synchronous baseline: parallel_for() hands out task
// indices dynamically and returns only when every task is done, which is exactly the barrier
// between the baseline's phases. Results never depend on which thread ran a task: every task
// writes its own outputs.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flashmoe::bench {

class ThreadPool {
 public:
  // threads ≥ 1: threads − 1 helpers, and the caller of parallel_for() works too.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(helpers_.size()) + 1; }

  // Runs task(i) for every i in [0, count) and returns when all have finished. The first
  // exception a task throws is rethrown here (after the others finished).
  void parallel_for(std::int64_t count, const std::function<void(std::int64_t)>& task);

 private:
  void helper_loop();
  void stop_helpers();  // tells every helper to leave and joins it
  void work_on_current_job();

  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable job_ready_, job_done_;
  // The current job, guarded by mutex_ except next_ (handed out under the mutex too: tasks are
  // coarse, so contention is negligible and the code stays obviously race-free).
  const std::function<void(std::int64_t)>* task_ = nullptr;
  std::int64_t count_ = 0, next_ = 0, running_ = 0;
  std::uint64_t generation_ = 0;
  std::exception_ptr error_;
  bool stopping_ = false;
};

}  // namespace flashmoe::bench
