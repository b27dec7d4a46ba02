// Compile check of "one source, two targets" (DESIGN §3): the persistent program the CPU runs —
// the same workspace layout, passes begun and ended by the program, roles, group-cooperative
// actors — instantiated in a CUDA kernel with a thread block as the worker group
// (block_group.cuh) and ranks as partitions of one GPU (partition_transport.cuh), for every
// storage type. Built for sm_80, sm_90 and sm_90a whenever nvcc is available; CI has no GPU, so
// nothing launches it: the CUDA backend issue adds the launcher, the tensor-core tiles and the
// tests that run it.
#include <cstdint>

#include "platform/cuda/block_group.cuh"
#include "runtime/program.hpp"
#include "runtime/workspace_layout.hpp"
#include "transport/gpu/partition_transport.cuh"

namespace flashmoe::cuda {

using Transport = transport::PartitionTransport;

// What a launch needs: the rank's fixed state (its layout, transport and private area), the
// pass, every rank's binding, and one scratch block per processor group.
template <typename T>
struct PassLaunch {
  runtime::RankState<T, Transport> fixed;
  runtime::PassDescriptor pass;
  const runtime::PassBinding<T>* bindings = nullptr;  // [world size]
  runtime::ProgramSettings settings;
  std::byte* scratch = nullptr;     // [processor groups][group_scratch_bytes]
  std::uint32_t* failed = nullptr;  // host-mapped: set when a participant gave up
};

// One launch is one pass of one rank: block b is processor group b, then (dedicated roles) the
// scheduler and the subscribers, each a block. The device twin of engine::run_participant.
template <typename T>
__global__ void __launch_bounds__(128) persistent_pass_kernel(PassLaunch<T> launch) {
  __shared__ alignas(16) std::byte slot[BlockGroup::kSlotBytes];
  __shared__ alignas(128) std::byte tile_smem[tile::kDeviceSmemBytes];
  const BlockGroup group(slot, tile_smem);
  const runtime::RankState<T, Transport> s =
      runtime::make_pass_state(launch.fixed, launch.pass, launch.bindings[launch.fixed.rank]);
  const std::int64_t processors = s.layout.shape.processor_groups;
  const std::int64_t block = blockIdx.x;
  const runtime::Role role =
      block < processors ? runtime::Role{runtime::Role::Kind::processor, block}
      : block == processors
          ? runtime::Role{runtime::Role::Kind::scheduler, 0}
          : runtime::Role{runtime::Role::Kind::subscriber, block - processors - 1};
  const runtime::GroupScratch<T> scratch =
      block < processors ? runtime::group_scratch<T>(
                               s.layout, launch.scratch + block * s.layout.group_scratch_bytes)
                         : runtime::GroupScratch<T>{};
  runtime::NoHooks hooks;
  const runtime::Outcome outcome =
      runtime::run_pass(s, group, launch.settings, role, scratch, hooks);
  if (group.leader() && outcome.kind == runtime::Outcome::Kind::timed_out) {
    portable::store_release<portable::Scope::system>(*launch.failed, std::uint32_t{1});
    s.transport.raise_abort(s.epoch);
  }
  runtime::leave_pass(s, group, launch.settings, hooks);
}

// The layout is usable on the device: compute and index it there too.
__global__ void workspace_layout_kernel(runtime::LayerShape shape, runtime::TileShape tiles,
                                        std::size_t* out) {
  const runtime::WorkspaceLayout layout = runtime::WorkspaceLayout::compute(shape, tiles);
  out[0] = layout.symmetric_bytes;
  out[1] = layout.private_bytes;
  out[2] = layout.x_row(1, 0, 0, 1);
}

template __global__ void persistent_pass_kernel<double>(PassLaunch<double>);
template __global__ void persistent_pass_kernel<float>(PassLaunch<float>);
template __global__ void persistent_pass_kernel<bfloat16>(PassLaunch<bfloat16>);

}  // namespace flashmoe::cuda
