// CUDA runtime calls on the host, checked: a failing call throws flashmoe::Error naming the call,
// where it was made and CUDA's own words for the error — never a silent status.
#pragma once

#include <cuda_runtime_api.h>

#include "flashmoe/error.hpp"

namespace flashmoe::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file,
                                          int line) {
  throw Error(detail::concat("CUDA: ", call, " failed at ", file, ":", line, ": ",
                             cudaGetErrorName(status), " (", cudaGetErrorString(status), ")"));
}

}  // namespace flashmoe::cuda

#define FLASHMOE_CUDA_CHECK(call)                                                           \
  do {                                                                                      \
    const cudaError_t flashmoe_cuda_status_ = (call);                                       \
    if (flashmoe_cuda_status_ != cudaSuccess)                                               \
      ::flashmoe::cuda::throw_cuda_error(flashmoe_cuda_status_, #call, __FILE__, __LINE__); \
  } while (false)
