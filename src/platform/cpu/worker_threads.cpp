#include "platform/cpu/worker_threads.hpp"

#include "common/test_fault.hpp"
#include "common/thread_start.hpp"
#include "platform/cpu/atomics.hpp"

namespace flashmoe::platform {

void run_worker_threads(int world_size, int workers_per_rank,
                        const std::function<void(int rank, int worker)>& body,
                        std::uint32_t& abort_flag) {
  run_on_new_threads(
      world_size * workers_per_rank,
      [&](int index) {
        throw_if_test_fault("engine_worker");
        body(index / workers_per_rank, index % workers_per_rank);
      },
      [&] { store_release(abort_flag, std::uint32_t{1}); });
}

}  // namespace flashmoe::platform
