// The persistent kernel (its launch: world_launch.cuh). Every block builds its rank's pass state
// once, in shared memory — the program passes it by reference everywhere, and a copy in
// registers or on the stack would spill —, then runs its participant's part of the pass and
// leaves it; a participant that gave up waiting records why (FailureRecord) and raises the
// world's abort for the pass, so every other block stops waiting too.
#pragma once

#include <cstdint>
#include <new>
#include <type_traits>

#include "engine/cuda/world_launch.cuh"
#include "platform/cuda/block_group.cuh"
#include "tile/tile_configs.hpp"

namespace flashmoe::cuda {

static_assert(kBlockThreads == tile::kDeviceThreads, "a block is one device tile's worker group");

namespace kernel_detail {

template <typename T>
__device__ void record_failure(const WorldLaunch<T>& launch, const runtime::RankState<T, Transport>& s,
                               int block, const runtime::Outcome& outcome) {
  FailureRecord& r = *launch.failure;
  // The record is the first failure since the host last read it (it may span several passes of
  // a graph): a later one leaves it as it is.
  if (portable::exchange_acq_rel<portable::Scope::system>(r.claimed, std::uint32_t{1}) != 0) return;
  r.epoch = s.epoch;
  r.kind = s.pass;
  r.rank = s.rank;
  r.block = block;
  r.waited_for = outcome.waited_for;
  __threadfence_system();
  portable::store_release<portable::Scope::system>(r.published, std::uint32_t{1});
}

}  // namespace kernel_detail

template <typename T>
__global__ void __launch_bounds__(kBlockThreads)
    persistent_pass_kernel(const __grid_constant__ WorldLaunch<T> launch) {
  using State = runtime::RankState<T, Transport>;
  __shared__ alignas(16) std::byte slot[BlockGroup::kSlotBytes];
  __shared__ alignas(128) std::byte tile_smem[tile::kDeviceSmemBytes];
  __shared__ alignas(16) std::byte state_bytes[sizeof(State)];
  const int rank = static_cast<int>(blockIdx.x) / launch.blocks_per_rank;
  const std::int64_t block = static_cast<std::int64_t>(blockIdx.x) % launch.blocks_per_rank;
  // The rank's fixed state, copied by the whole block in words, then made this pass's.
  static_assert(sizeof(State) % 8 == 0 && std::is_trivially_copyable_v<State>);
  const auto* from = reinterpret_cast<const std::uint64_t*>(&launch.fixed[rank]);
  auto* to = reinterpret_cast<std::uint64_t*>(state_bytes);
  for (unsigned i = threadIdx.x; i < sizeof(State) / 8; i += blockDim.x) to[i] = from[i];
  __syncthreads();
  State& state = *reinterpret_cast<State*>(state_bytes);
  if (threadIdx.x == 0) runtime::apply_pass(state, launch.clock->current, launch.bindings[rank]);
  __syncthreads();
  const State& s = state;
  // The block's group, role, scratch, hooks, settings and loop cursor are the same for every
  // thread, and the program takes them by reference into calls it does not inline: they live in
  // shared memory too (built by thread 0 in raw storage, since a __shared__ variable cannot have
  // a constructor), where a per-thread object would need an address in local memory and a value
  // held in registers across those calls would be spilled there.
  using Scratch = runtime::GroupScratch<T>;
  using runtime::ProcessorCursor;
  using runtime::ProgramSettings;
  __shared__ alignas(BlockGroup) std::byte group_bytes[sizeof(BlockGroup)];
  __shared__ alignas(runtime::Role) std::byte role_bytes[sizeof(runtime::Role)];
  __shared__ alignas(Scratch) std::byte scratch_bytes[sizeof(Scratch)];
  __shared__ alignas(runtime::NoHooks) std::byte hooks_bytes[sizeof(runtime::NoHooks)];
  __shared__ alignas(ProgramSettings) std::byte settings_bytes[sizeof(ProgramSettings)];
  __shared__ alignas(ProcessorCursor) std::byte cursor_bytes[sizeof(ProcessorCursor)];
  __shared__ std::int64_t block_in_rank;  // `block` again, for a failure after the pass
  if (threadIdx.x == 0) {
    block_in_rank = block;
    using Kind = runtime::Role::Kind;
    const std::int64_t processors = s.layout.shape.processor_groups;
    new (group_bytes) BlockGroup(slot, tile_smem);
    new (hooks_bytes) runtime::NoHooks{};
    new (settings_bytes) ProgramSettings(launch.settings);
    new (cursor_bytes) ProcessorCursor{};
    new (role_bytes) runtime::Role(
        block < processors    ? runtime::Role{Kind::processor, block}
        : block == processors ? runtime::Role{Kind::scheduler, 0}
                              : runtime::Role{Kind::subscriber, block - processors - 1});
    const std::int64_t group_index = static_cast<std::int64_t>(rank) * processors + block;
    new (scratch_bytes) Scratch(
        block < processors
            ? runtime::group_scratch<T>(
                  s.layout, launch.scratch + group_index * static_cast<std::int64_t>(
                                                               s.layout.group_scratch_bytes))
            : Scratch{});
  }
  __syncthreads();
  const BlockGroup& group = *reinterpret_cast<const BlockGroup*>(group_bytes);
  const runtime::Role& role = *reinterpret_cast<const runtime::Role*>(role_bytes);
  const Scratch& scratch = *reinterpret_cast<const Scratch*>(scratch_bytes);
  runtime::NoHooks& hooks = *reinterpret_cast<runtime::NoHooks*>(hooks_bytes);
  const ProgramSettings& settings = *reinterpret_cast<const ProgramSettings*>(settings_bytes);
  ProcessorCursor& cursor = *reinterpret_cast<ProcessorCursor*>(cursor_bytes);
  const runtime::Outcome outcome =
      runtime::run_pass(s, group, settings, role, scratch, hooks, cursor);
  if (group.leader() && outcome.kind == runtime::Outcome::Kind::timed_out) {
    kernel_detail::record_failure(launch, s, static_cast<int>(block_in_rank), outcome);
    s.transport.raise_abort(s.epoch);  // every rank stops waiting for this pass
  }
  runtime::leave_pass(s, group, settings, hooks);
}

}  // namespace flashmoe::cuda
