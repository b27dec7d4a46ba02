// The persistent kernel's instantiations — fp64, fp32, bf16 and fp16 layers — and their host
// entry points (kernels.hpp), with the two small kernels around a pass: the one that numbers it
// and the one that writes the ranks' bindings. Compiled for sm_80 and sm_90a (never PTX JIT); CI
// checks this object's SASS (scripts/check_sass.py).
#include "engine/cuda/kernels.hpp"

#include <algorithm>

#include "engine/cuda/persistent_kernel.cuh"
#include "platform/cuda/cuda_check.hpp"

namespace flashmoe::cuda {

template <typename T>
KernelResources kernel_resources() {
  cudaFuncAttributes attributes{};
  FLASHMOE_CUDA_CHECK(cudaFuncGetAttributes(&attributes, persistent_pass_kernel<T>));
  KernelResources r;
  r.registers = attributes.numRegs;
  r.local_bytes = attributes.localSizeBytes;
  r.static_shared_bytes = attributes.sharedSizeBytes;
  r.max_threads = attributes.maxThreadsPerBlock;
  FLASHMOE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &r.blocks_per_sm, persistent_pass_kernel<T>, kBlockThreads, 0));
  return r;
}

cudaError_t kernel_image_status() {
  cudaFuncAttributes attributes{};
  const cudaError_t status = cudaFuncGetAttributes(&attributes, persistent_pass_kernel<float>);
  (void)cudaGetLastError();  // a missing image is an answer here, not an error to keep
  return status;
}

const char* built_architectures() {
  return FLASHMOE_CUDA_ARCH_LIST;
}

namespace {

// Numbers the pass that the persistent kernel launched next on the stream runs (one thread;
// pass_clock.hpp). The kernel boundary orders its stores before that launch's reads.
__global__ void begin_pass_kernel(PassClock* clock, runtime::PassKind kind) {
  begin_pass(*clock, kind);
}

// Bindings per launch of write_bindings_kernel: their parameter block must stay within the
// 4 KiB every architecture and driver accepts.
constexpr int kBindingsPerLaunch = 16;

template <typename T>
struct BindingBatch {
  runtime::PassBinding<T> bindings[kBindingsPerLaunch];
  int count = 0;
};

template <typename T>
__global__ void write_bindings_kernel(const __grid_constant__ BindingBatch<T> batch,
                                      runtime::PassBinding<T>* destination) {
  if (static_cast<int>(threadIdx.x) < batch.count)
    destination[threadIdx.x] = batch.bindings[threadIdx.x];
}

}  // namespace

template <typename T>
cudaError_t launch_write_bindings(const runtime::PassBinding<T>* bindings, int count,
                                  runtime::PassBinding<T>* destination, cudaStream_t stream) {
  static_assert(sizeof(BindingBatch<T>) + sizeof(void*) <= 4096);
  for (int first = 0; first < count; first += kBindingsPerLaunch) {
    BindingBatch<T> batch;
    batch.count = std::min(kBindingsPerLaunch, count - first);
    std::copy(bindings + first, bindings + first + batch.count, batch.bindings);
    write_bindings_kernel<T><<<1, kBindingsPerLaunch, 0, stream>>>(batch, destination + first);
    if (const cudaError_t status = cudaGetLastError(); status != cudaSuccess) return status;
  }
  return cudaSuccess;
}

template <typename T>
cudaError_t launch_pass(const WorldLaunch<T>& launch, runtime::PassKind kind, int grid_blocks,
                        cudaStream_t stream) {
  begin_pass_kernel<<<1, 1, 0, stream>>>(launch.clock, kind);
  if (const cudaError_t status = cudaGetLastError(); status != cudaSuccess) return status;
  // cudaLaunchKernelEx with the cooperative attribute rather than cudaLaunchCooperativeKernel:
  // the attribute is valid for graph nodes, so a stream capture records a cooperative node.
  cudaLaunchAttribute cooperative{};
  cooperative.id = cudaLaunchAttributeCooperative;
  cooperative.val.cooperative = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(grid_blocks));
  config.blockDim = dim3(kBlockThreads);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  config.attrs = &cooperative;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, persistent_pass_kernel<T>, launch);
}

template KernelResources kernel_resources<double>();
template KernelResources kernel_resources<float>();
template KernelResources kernel_resources<bfloat16>();
template KernelResources kernel_resources<float16>();
template cudaError_t launch_write_bindings<double>(const runtime::PassBinding<double>*, int,
                                                   runtime::PassBinding<double>*, cudaStream_t);
template cudaError_t launch_write_bindings<float>(const runtime::PassBinding<float>*, int,
                                                  runtime::PassBinding<float>*, cudaStream_t);
template cudaError_t launch_write_bindings<bfloat16>(const runtime::PassBinding<bfloat16>*, int,
                                                     runtime::PassBinding<bfloat16>*, cudaStream_t);
template cudaError_t launch_write_bindings<float16>(const runtime::PassBinding<float16>*, int,
                                                    runtime::PassBinding<float16>*, cudaStream_t);
template cudaError_t launch_pass<double>(const WorldLaunch<double>&, runtime::PassKind, int,
                                       cudaStream_t);
template cudaError_t launch_pass<float>(const WorldLaunch<float>&, runtime::PassKind, int,
                                       cudaStream_t);
template cudaError_t launch_pass<bfloat16>(const WorldLaunch<bfloat16>&, runtime::PassKind, int,
                                       cudaStream_t);
template cudaError_t launch_pass<float16>(const WorldLaunch<float16>&, runtime::PassKind, int,
                                       cudaStream_t);

}  // namespace flashmoe::cuda
