// Runs the workers of every rank as OS threads (a worker group of one thread each) and turns
// their failures into one exception: the first error wins, raises the world's abort flag so
// every other worker leaves its loop instead of waiting for a peer that will never answer, and
// is rethrown by the caller after all threads joined.
#pragma once

#include <cstdint>
#include <functional>

namespace flashmoe::platform {

// Calls body(rank, worker) on world_size × workers_per_rank threads and joins them. abort_flag
// is set to 1 when any body throws; the first exception is rethrown after the join.
void run_worker_threads(int world_size, int workers_per_rank,
                        const std::function<void(int rank, int worker)>& body,
                        std::uint32_t& abort_flag);

}  // namespace flashmoe::platform
