// BufferRef: a caller's memory described without any framework type — an address (a Python
// int), a shape, strides in elements, an element type name and a device name. The Python layer
// fills it from a torch.Tensor; keeping torch out of the extension lets one build serve every
// torch version.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "flashmoe/tensor.hpp"

namespace flashmoe::python {

struct BufferRef {
  std::uintptr_t address = 0;
  Shape shape;
  Shape strides;       // elements, one per dimension
  std::string dtype;   // float64, float32, bfloat16, float16, int32, int64, uint8
  std::string device;  // "cpu" or "cuda:N" (torch's names)
};

// The element type named by a BufferRef's dtype; throws ArgumentError naming `what` otherwise.
ElementType parse_element_type(std::string_view name, std::string_view what);

// Strides (in elements) of a row-major contiguous array of this shape.
Shape contiguous_strides(const Shape& shape);

// The CUDA device ordinal N of a buffer on "cuda:N", or -1 for one on the CPU; ArgumentError
// naming `what` for any other device.
int cuda_device_of(const BufferRef& buffer, std::string_view what);

// Checks a buffer the caller's pass will read or write in place (no copy): exactly the expected
// element type and shape, row-major contiguous, a non-null address aligned to its elements.
// Throws ArgumentError naming `what`, the expected and the actual. The device is the caller's
// to check (cuda_device_of).
void check_in_place(const BufferRef& buffer, std::string_view what, ElementType expected_type,
                    const Shape& expected_shape);

// A copy of the caller's buffer `what` into a new HostTensor, after checking that it lives on
// the CPU, is row-major contiguous and has exactly the expected element type and shape.
// Throws ArgumentError naming the tensor, expected and actual (for CUDA memory: which backend
// takes it).
HostTensor copy_in(const BufferRef& buffer, std::string_view what, ElementType expected_type,
                   const Shape& expected_shape);

// Writes `source` into the caller's buffer, converting the element type when they differ
// (floating types round to nearest even; integer results need the exact integer type).
void copy_out(const HostTensor& source, const BufferRef& destination, std::string_view what);

}  // namespace flashmoe::python
