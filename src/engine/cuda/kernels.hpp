// The persistent kernel as the host driver sees it (its instantiations live in kernels.cu, the
// one translation unit that compiles the whole program for the device): its resource use and
// occupancy, and one cooperative launch of a pass.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "engine/cuda/world_launch.cuh"

namespace flashmoe::cuda {

struct KernelResources {
  int registers = 0;            // per thread
  std::size_t local_bytes = 0;  // per thread: stack frame and local arrays (spills land here)
  std::size_t static_shared_bytes = 0;
  int max_threads = 0;
  int blocks_per_sm = 0;  // co-resident blocks of kBlockThreads threads on one multiprocessor
};

// The kernel for storage type T on the current device. Throws flashmoe::Error on a CUDA error.
template <typename T>
KernelResources kernel_resources();

// Whether this build holds machine code for the current device: cudaSuccess, or
// cudaErrorNoKernelImageForDevice (or another CUDA error) — asked once, before anything runs.
cudaError_t kernel_image_status();

// The architectures this build holds machine code for, e.g. "sm_80, sm_90a".
const char* built_architectures();

// One pass of kind `kind`, enqueued on `stream` with no host synchronisation, so that a stream
// capture records it: a one-thread launch numbers the pass on the device (launch.clock,
// pass_clock.hpp), then grid_blocks blocks of kBlockThreads threads run it cooperatively (every
// block co-resident, or the launch fails with cudaErrorCooperativeLaunchTooLarge). Returns the
// launches' status; the pass's own outcome is in launch.failure once the stream reaches it.
template <typename T>
cudaError_t launch_pass(const WorldLaunch<T>& launch, runtime::PassKind kind, int grid_blocks,
                        cudaStream_t stream);

// Writes `count` ranks' bindings to `destination` (device memory) on `stream`, with no host
// synchronisation: they travel as kernel parameters, which the launch call copies, so the
// caller's array may go as soon as this returns, and a stream capture records the values (the
// graph's replays write what was bound when it was captured). Returns the launches' status.
template <typename T>
cudaError_t launch_write_bindings(const runtime::PassBinding<T>* bindings, int count,
                                  runtime::PassBinding<T>* destination, cudaStream_t stream);

}  // namespace flashmoe::cuda
