// The persistent kernel's instantiations — fp64, fp32, bf16 and fp16 layers — and their host
// entry points (kernels.hpp). Compiled for sm_80 and sm_90a (never PTX JIT); CI checks this
// object's SASS (scripts/check_sass.py).
#include "engine/cuda/kernels.hpp"

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

template <typename T>
cudaError_t launch_pass(const WorldLaunch<T>& launch, int grid_blocks, cudaStream_t stream) {
  void* arguments[] = {const_cast<WorldLaunch<T>*>(&launch)};
  return cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(persistent_pass_kernel<T>),
                                     dim3(static_cast<unsigned>(grid_blocks)), dim3(kBlockThreads),
                                     arguments, 0, stream);
}

template KernelResources kernel_resources<double>();
template KernelResources kernel_resources<float>();
template KernelResources kernel_resources<bfloat16>();
template KernelResources kernel_resources<float16>();
template cudaError_t launch_pass<double>(const WorldLaunch<double>&, int, cudaStream_t);
template cudaError_t launch_pass<float>(const WorldLaunch<float>&, int, cudaStream_t);
template cudaError_t launch_pass<bfloat16>(const WorldLaunch<bfloat16>&, int, cudaStream_t);
template cudaError_t launch_pass<float16>(const WorldLaunch<float16>&, int, cudaStream_t);

}  // namespace flashmoe::cuda
