// Per-thread staging for the CPU GEMM back ends (gemm_onednn.cpp, gemm_openblas.cpp): dense
// and widened copies of strided operands, and the buffers that hold them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "flashmoe/half.hpp"

namespace flashmoe::cpu::detail {

// A growable, 64-byte aligned byte buffer (oneDNN's kernels prefer cache-line aligned rows).
class AlignedBuffer {
 public:
  void* get(std::size_t bytes) {
    if (bytes > capacity_) {
      storage_.reset(new (std::align_val_t{64}) std::byte[bytes]);
      capacity_ = bytes;
    }
    return storage_.get();
  }

 private:
  struct Deleter {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{64}); }
  };
  std::unique_ptr<std::byte[], Deleter> storage_;
  std::size_t capacity_ = 0;
};

// Copies a [rows, cols] matrix of `element`-byte values between leading dimensions.
inline void copy_rows(void* destination, std::int64_t destination_ld, const void* source,
               std::int64_t source_ld, std::int64_t rows, std::int64_t cols, std::size_t element) {
  auto* out = static_cast<std::byte*>(destination);
  const auto* in = static_cast<const std::byte*>(source);
  for (std::int64_t i = 0; i < rows; ++i)
    std::memcpy(out + static_cast<std::size_t>(i * destination_ld) * element,
                in + static_cast<std::size_t>(i * source_ld) * element,
                static_cast<std::size_t>(cols) * element);
}

// A dense copy of a strided [rows, cols] matrix in `buffer`.
inline const void* dense_copy(AlignedBuffer& buffer, const void* source, std::int64_t rows,
                       std::int64_t cols, std::int64_t ld, std::size_t element) {
  void* out = buffer.get(static_cast<std::size_t>(rows * cols) * element);
  copy_rows(out, cols, source, ld, rows, cols, element);
  return out;
}

// bf16 [rows, cols] → f32 and back between leading dimensions: exact one way, rounded to nearest
// even the other (a bf16 destination's epilogue runs on an f32 tile).
inline void widen_rows(float* destination, std::int64_t destination_ld, const void* source,
                       std::int64_t source_ld, std::int64_t rows, std::int64_t cols) {
  const auto* in = static_cast<const bfloat16*>(source);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      destination[i * destination_ld + j] = in[i * source_ld + j].to_float();
}
inline void round_rows(void* destination, std::int64_t destination_ld, const float* source,
                       std::int64_t source_ld, std::int64_t rows, std::int64_t cols) {
  auto* out = static_cast<bfloat16*>(destination);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      out[i * destination_ld + j] = bfloat16::from_float(source[i * source_ld + j]);
}

// bf16 [rows, cols] (row stride ld) widened to a dense f32 matrix in `buffer`: exact, as
// every bf16 value is an fp32 value.
inline const float* widened_copy(AlignedBuffer& buffer, const void* source, std::int64_t rows,
                          std::int64_t cols, std::int64_t ld) {
  auto* out = static_cast<float*>(buffer.get(static_cast<std::size_t>(rows * cols) * sizeof(float)));
  const auto* in = static_cast<const bfloat16*>(source);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) out[i * cols + j] = in[i * ld + j].to_float();
  return out;
}


}  // namespace flashmoe::cpu::detail
