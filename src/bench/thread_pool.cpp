#include "bench/thread_pool.hpp"

#include <system_error>

#include "common/test_fault.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe::bench {

ThreadPool::ThreadPool(int threads) {
  FLASHMOE_CHECK(threads >= 1, "thread pool: threads = ", threads, ", must be ≥ 1");
  try {
    helpers_.reserve(static_cast<std::size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) helpers_.emplace_back([this] { helper_loop(); });
  } catch (const std::exception& e) {
    // A joinable std::thread destroyed during unwinding would end the process.
    const std::size_t started = helpers_.size();
    stop_helpers();
    FLASHMOE_FAIL("thread pool: could not start ", threads - 1, " helper threads: only ", started,
                  " could be created (", e.what(),
                  "); the system's limit on threads or memory was reached; ask for fewer workers");
  }
}

ThreadPool::~ThreadPool() { stop_helpers(); }

void ThreadPool::stop_helpers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  job_ready_.notify_all();
  for (std::thread& helper : helpers_) helper.join();
  helpers_.clear();
}

void ThreadPool::work_on_current_job() {
  std::unique_lock lock(mutex_);
  ++running_;
  while (next_ < count_) {
    const std::int64_t index = next_++;
    const auto* task = task_;
    lock.unlock();
    try {
      throw_if_test_fault("baseline_task");
      (*task)(index);
    } catch (...) {
      std::lock_guard error_lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    lock.lock();
  }
  if (--running_ == 0) job_done_.notify_all();
}

void ThreadPool::helper_loop() {
  std::uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      job_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    work_on_current_job();
  }
}

void ThreadPool::parallel_for(std::int64_t count, const std::function<void(std::int64_t)>& task) {
  if (count <= 0) return;
  {
    std::lock_guard lock(mutex_);
    task_ = &task;
    count_ = count;
    next_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  job_ready_.notify_all();
  work_on_current_job();
  std::exception_ptr error;
  {
    // All indices are handed out once the caller leaves work_on_current_job(); wait for the
    // helpers still inside a task. A helper that wakes later finds next_ == count_ and leaves.
    std::unique_lock lock(mutex_);
    job_done_.wait(lock, [&] { return running_ == 0; });
    task_ = nullptr;
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace flashmoe::bench
