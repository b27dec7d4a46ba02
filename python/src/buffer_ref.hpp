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
  std::string device;  // "cpu"; "cuda:N" is recognised and refused until the CUDA backend exists
};

// The element type named by a BufferRef's dtype; throws ArgumentError naming `what` otherwise.
ElementType parse_element_type(std::string_view name, std::string_view what);

// Strides (in elements) of a row-major contiguous array of this shape.
Shape contiguous_strides(const Shape& shape);

// A copy of the caller's buffer `what` into a new HostTensor, after checking that it lives on
// the CPU, is row-major contiguous and has exactly the expected element type and shape.
// Throws ArgumentError (NotBuiltError for CUDA memory) naming the tensor, expected and actual.
HostTensor copy_in(const BufferRef& buffer, std::string_view what, ElementType expected_type,
                   const Shape& expected_shape);

// Writes `source` into the caller's buffer, converting the element type when they differ
// (floating types round to nearest even; integer results need the exact integer type).
void copy_out(const HostTensor& source, const BufferRef& destination, std::string_view what);

}  // namespace flashmoe::python
