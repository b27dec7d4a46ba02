#include "buffer_ref.hpp"

#include <array>
#include <cstring>
#include <utility>

#include "errors.hpp"

namespace flashmoe::python {
namespace {

constexpr std::array<ElementType, 7> kElementTypes{
    ElementType::f64, ElementType::f32, ElementType::bf16, ElementType::f16,
    ElementType::i32, ElementType::i64, ElementType::u8};

bool is_floating(ElementType t) {
  return t == ElementType::f64 || t == ElementType::f32 || t == ElementType::bf16 ||
         t == ElementType::f16;
}

// Host-copied buffers: CPU memory only.
void check_device(const BufferRef& buffer, std::string_view what) {
  if (cuda_device_of(buffer, what) >= 0)
    throw ArgumentError(detail::concat(
        "tensor ", what, " is on ", buffer.device,
        ", and this call copies CPU tensors: only backend 'cuda' takes CUDA tensors (in place, on "
        "their device), and every tensor of a call must be on the same device"));
}

// Row-major contiguity as torch defines it: dimensions of extent 1 (and empty tensors) may have
// any stride.
void check_contiguous(const BufferRef& buffer, std::string_view what) {
  if (buffer.strides.size() != buffer.shape.size())
    throw ArgumentError(detail::concat("tensor ", what, ": ", buffer.strides.size(),
                                       " strides given for ", buffer.shape.size(), " dimensions"));
  if (shape_numel(buffer.shape) == 0) return;  // no element to address: any strides do
  std::int64_t expected = 1;
  for (std::size_t i = buffer.shape.size(); i-- > 0;) {
    if (buffer.shape[i] != 1 && buffer.strides[i] != expected)
      throw ArgumentError(detail::concat(
          "tensor ", what, " must be contiguous (row-major): shape ", shape_to_string(buffer.shape),
          " has strides ", shape_to_string(buffer.strides), ", expected ",
          shape_to_string(contiguous_strides(buffer.shape)), " (call .contiguous() first)"));
    expected *= buffer.shape[i];
  }
}

void check_address(const BufferRef& buffer, std::string_view what, ElementType type) {
  const std::size_t size = element_size(type);
  if (shape_numel(buffer.shape) > 0 && (buffer.address == 0 || buffer.address % size != 0))
    throw ArgumentError(detail::concat("tensor ", what, ": address ", buffer.address,
                                       " is null or not aligned to its ", size, "-byte elements"));
}

}  // namespace

int cuda_device_of(const BufferRef& buffer, std::string_view what) {
  if (buffer.device == "cpu") return -1;
  constexpr std::string_view prefix = "cuda:";
  const std::string_view device = buffer.device;
  if (device.starts_with(prefix) && device.size() > prefix.size() &&
      device.size() <= prefix.size() + 4 &&
      device.find_first_not_of("0123456789", prefix.size()) == std::string_view::npos)
    return std::stoi(std::string(device.substr(prefix.size())));
  throw ArgumentError(detail::concat("tensor ", what, " is on device '", buffer.device,
                                     "'; allowed: cpu, cuda:N"));
}

void check_in_place(const BufferRef& buffer, std::string_view what, ElementType expected_type,
                    const Shape& expected_shape) {
  const ElementType type = parse_element_type(buffer.dtype, what);
  if (type != expected_type || buffer.shape != expected_shape)
    throw ArgumentError(detail::concat("tensor ", what, ": expected ", to_string(expected_type),
                                       ' ', shape_to_string(expected_shape), ", got ",
                                       to_string(type), ' ', shape_to_string(buffer.shape)));
  check_contiguous(buffer, what);
  check_address(buffer, what, type);
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

ElementType parse_element_type(std::string_view name, std::string_view what) {
  for (ElementType t : kElementTypes)
    if (to_string(t) == name) return t;
  throw ArgumentError(detail::concat("tensor ", what, " has dtype '", name,
                                     "'; allowed: float64, float32, bfloat16, float16, int32, "
                                     "int64, uint8"));
}

HostTensor copy_in(const BufferRef& buffer, std::string_view what, ElementType expected_type,
                   const Shape& expected_shape) {
  check_device(buffer, what);
  check_in_place(buffer, what, expected_type, expected_shape);
  HostTensor tensor(expected_type, buffer.shape);
  if (tensor.nbytes() > 0)
    std::memcpy(tensor.raw(), reinterpret_cast<const void*>(buffer.address), tensor.nbytes());
  return tensor;
}

void copy_out(const HostTensor& source, const BufferRef& destination, std::string_view what) {
  check_device(destination, what);
  const ElementType type = parse_element_type(destination.dtype, what);
  const bool convertible =
      type == source.type() || (is_floating(type) && is_floating(source.type()));
  if (!convertible || destination.shape != source.shape())
    throw ArgumentError(detail::concat(
        "output ", what, ": expected ", shape_to_string(source.shape()), " of ",
        to_string(source.type()), is_floating(source.type()) ? " (or another floating type)" : "",
        ", got ", to_string(type), ' ', shape_to_string(destination.shape)));
  check_contiguous(destination, what);
  check_address(destination, what, type);
  if (source.nbytes() == 0) return;
  const HostTensor converted = type == source.type() ? HostTensor() : source.to(type);
  const HostTensor& bytes = type == source.type() ? source : converted;
  std::memcpy(reinterpret_cast<void*>(destination.address), bytes.raw(), bytes.nbytes());
}

}  // namespace flashmoe::python
