// What one launch of the persistent kernel (persistent_kernel.cuh) reads: ONE launch runs one
// pass of every rank of a world that lives on this GPU (DESIGN §3). The grid is
// world_size × blocks_per_rank blocks, all co-resident (the launch is cooperative, sized by
// grid_plan.hpp); block b is participant b % blocks_per_rank of rank
// b / blocks_per_rank — processor groups first, then (dedicated roles) the scheduler and the
// subscribers. Every block runs the portable program of src/runtime with a thread block as the
// worker group (platform/cuda/block_group.cuh) and the ranks as partitions of the GPU
// (transport/gpu/partition_transport.cuh) — the same functions the CPU engine runs.
#pragma once

#include <cstdint>

#include "engine/cuda/failure_record.hpp"
#include "engine/cuda/pass_clock.hpp"
#include "runtime/program.hpp"
#include "transport/gpu/partition_transport.cuh"

namespace flashmoe::cuda {

using Transport = transport::PartitionTransport;
inline constexpr int kBlockThreads = 128;  // = tile::kDeviceThreads (persistent_kernel.cuh)

// What one launch needs (a __grid_constant__ parameter: it is read, never copied per thread).
template <typename T>
struct WorldLaunch {
  const runtime::RankState<T, Transport>* fixed = nullptr;  // [world size], device memory
  const runtime::PassBinding<T>* bindings = nullptr;        // [world size], this pass
  // Device memory: the pass this launch runs is clock->current, numbered on the device by the
  // launch before it (pass_clock.hpp), so a graph replay runs a new pass.
  PassClock* clock = nullptr;
  runtime::ProgramSettings settings;
  std::int32_t blocks_per_rank = 1;  // participants per rank
  std::byte* scratch = nullptr;      // [world size][processor groups][group_scratch_bytes]
  FailureRecord* failure = nullptr;  // host-mapped
};

}  // namespace flashmoe::cuda
