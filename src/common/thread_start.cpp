#include "common/thread_start.hpp"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "flashmoe/error.hpp"

namespace flashmoe {
namespace {

// Opens once, either to let every body run or to send every started thread home.
class StartGate {
 public:
  void open(bool run_bodies) {
    {
      const std::lock_guard lock(mutex_);
      opened_ = true;
      run_bodies_ = run_bodies;
    }
    opened_cv_.notify_all();
  }
  // Waits until the gate opens; true when the bodies are to run.
  bool wait() {
    std::unique_lock lock(mutex_);
    opened_cv_.wait(lock, [this] { return opened_; });
    return run_bodies_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_cv_;
  bool opened_ = false, run_bodies_ = false;
};

}  // namespace

void run_on_new_threads(int count, const std::function<void(int index)>& body,
                        const std::function<void()>& on_first_error) {
  FLASHMOE_CHECK(count >= 0, "run_on_new_threads: count = ", count, ", must be ≥ 0");
  StartGate gate;
  std::mutex error_mutex;
  std::exception_ptr first_error;
  const auto run_one = [&](int index) {
    if (!gate.wait()) return;
    try {
      body(index);
    } catch (...) {
      bool first = false;
      {
        const std::lock_guard lock(error_mutex);
        if (!first_error) {
          first_error = std::current_exception();
          first = true;
        }
      }
      if (first && on_first_error) on_first_error();
    }
  };

  std::vector<std::thread> threads;
  std::string creation_failure;
  try {
    threads.reserve(static_cast<std::size_t>(count));
    for (int index = 0; index < count; ++index) threads.emplace_back(run_one, index);
  } catch (const std::system_error& e) {
    creation_failure = e.what();
  } catch (const std::bad_alloc&) {
    creation_failure = "out of memory";
  }
  gate.open(creation_failure.empty());
  for (std::thread& thread : threads) thread.join();
  FLASHMOE_CHECK(creation_failure.empty(), "could not start ", count, " threads: only ",
                 threads.size(), " could be created (", creation_failure,
                 "); the system's limit on threads or memory was reached; ask for fewer workers");
  if (first_error) std::rethrow_exception(first_error);
}

struct ThreadTeam::State {
  std::function<void(int)> body;
  StartGate gate;
  mutable std::mutex error_mutex;
  std::exception_ptr first_error;
  std::vector<std::thread> threads;
};

ThreadTeam::ThreadTeam(int count, std::function<void(int index)> body)
    : state_(std::make_unique<State>()) {
  FLASHMOE_CHECK(count >= 0, "ThreadTeam: count = ", count, ", must be ≥ 0");
  State& state = *state_;
  state.body = std::move(body);
  std::string creation_failure;
  try {
    state.threads.reserve(static_cast<std::size_t>(count));
    for (int index = 0; index < count; ++index)
      state.threads.emplace_back([&state, index] {
        if (!state.gate.wait()) return;
        try {
          state.body(index);
        } catch (...) {
          const std::lock_guard lock(state.error_mutex);
          if (!state.first_error) state.first_error = std::current_exception();
        }
      });
  } catch (const std::system_error& e) {
    creation_failure = e.what();
  } catch (const std::bad_alloc&) {
    creation_failure = "out of memory";
  }
  state.gate.open(creation_failure.empty());
  if (creation_failure.empty()) return;
  const std::size_t started = state.threads.size();
  for (std::thread& thread : state.threads) thread.join();
  state.threads.clear();
  FLASHMOE_FAIL("could not start ", count, " threads: only ", started, " could be created (",
                creation_failure,
                "); the system's limit on threads or memory was reached; ask for fewer workers");
}

ThreadTeam::~ThreadTeam() {
  for (std::thread& thread : state_->threads) thread.join();
}

std::exception_ptr ThreadTeam::first_error() const {
  const std::lock_guard lock(state_->error_mutex);
  return state_->first_error;
}

}  // namespace flashmoe
