// Owned device memory: one cudaMalloc, freed with the object. Host code only.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

#include "platform/cuda/cuda_check.hpp"

namespace flashmoe::cuda {

class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(std::size_t bytes) : bytes_(bytes) {
    if (bytes > 0) FLASHMOE_CUDA_CHECK(cudaMalloc(&data_, bytes));
  }
  ~DeviceMemory() {
    if (data_ != nullptr) (void)cudaFree(data_);
  }
  DeviceMemory(DeviceMemory&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  DeviceMemory& operator=(DeviceMemory&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    return *this;
  }
  std::byte* at(std::size_t offset) const { return static_cast<std::byte*>(data_) + offset; }
  template <typename U>
  U* as() const {
    return static_cast<U*>(data_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace flashmoe::cuda
