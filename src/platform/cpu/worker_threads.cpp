#include "platform/cpu/worker_threads.hpp"

#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "platform/cpu/atomics.hpp"

namespace flashmoe::platform {

void run_worker_threads(int world_size, int workers_per_rank,
                        const std::function<void(int rank, int worker)>& body,
                        std::uint32_t& abort_flag) {
  std::mutex error_mutex;
  std::exception_ptr first_error;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(world_size * workers_per_rank));
  for (int rank = 0; rank < world_size; ++rank) {
    for (int worker = 0; worker < workers_per_rank; ++worker) {
      threads.emplace_back([&, rank, worker] {
        try {
          body(rank, worker);
        } catch (...) {
          {
            const std::lock_guard<std::mutex> lock(error_mutex);
            if (!first_error) first_error = std::current_exception();
          }
          store_release(abort_flag, std::uint32_t{1});
        }
      });
    }
  }
  for (std::thread& thread : threads) thread.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace flashmoe::platform
