// Compile check of "one source, two targets" (DESIGN §3): the same workspace layout, signal
// encoding, task queue, scheduler, subscriber and actors that the CPU workers run, instantiated
// inside a persistent __global__ kernel for every storage type. Each block plays one worker (a
// group of one thread, as on the CPU); polling backs off with __nanosleep. Built as an object
// library when CUDA is available; no launch happens in CI (there is no GPU there).
#include <cstdint>

#include "runtime/processor.hpp"
#include "runtime/subscriber.hpp"
#include "runtime/workspace_layout.hpp"

namespace flashmoe::platform::cuda {

// One pass of one rank: the device twin of platform::run_worker (worker_loop.hpp), without
// the host's timing and exceptions; the kernel's launcher bounds the wait with a host timeout.
template <typename T>
__global__ void persistent_pass_kernel(runtime::RankState<T> state, runtime::PassKind pass,
                                       runtime::WorkerScratch<T>* scratch_per_block) {
  if (threadIdx.x != 0) return;
  const runtime::WorkerScratch<T> scratch = scratch_per_block[blockIdx.x];
  const runtime::TaskQueue queue = state.queue();
  while (!state.world.aborted()) {
    runtime::Task task;
    if (queue.try_pop(task)) {
      runtime::execute_task(state, task, scratch);
      runtime::finish_task(state);
      continue;
    }
    if (runtime::pass_finished(state)) return;
    if (runtime::try_lock_subscriber(state)) {
      const bool produced = runtime::poll_arrivals(state, pass);
      runtime::unlock_subscriber(state);
      if (produced) continue;
    }
    __nanosleep(200);
  }
}

// The layout is usable on the device: compute and index it there too.
__global__ void workspace_layout_kernel(runtime::LayerShape shape, runtime::TileShape tiles,
                                        std::size_t* out) {
  const runtime::WorkspaceLayout layout = runtime::WorkspaceLayout::compute(shape, tiles);
  out[0] = layout.symmetric_bytes;
  out[1] = layout.private_bytes;
  out[2] = layout.x_row(0, 0, 1);
}

template __global__ void persistent_pass_kernel<double>(runtime::RankState<double>,
                                                        runtime::PassKind,
                                                        runtime::WorkerScratch<double>*);
template __global__ void persistent_pass_kernel<float>(runtime::RankState<float>, runtime::PassKind,
                                                       runtime::WorkerScratch<float>*);
template __global__ void persistent_pass_kernel<bfloat16>(runtime::RankState<bfloat16>,
                                                          runtime::PassKind,
                                                          runtime::WorkerScratch<bfloat16>*);

}  // namespace flashmoe::platform::cuda
