// HostTensor: an owning, row-major, dtype-tagged host array. It is the currency between the
// command line, the file formats, the reference and the backends; kernels see raw pointers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "flashmoe/error.hpp"
#include "flashmoe/half.hpp"
#include "flashmoe/types.hpp"

namespace flashmoe {

template <typename T>
constexpr ElementType element_type_of();
template <>
constexpr ElementType element_type_of<double>() {
  return ElementType::f64;
}
template <>
constexpr ElementType element_type_of<float>() {
  return ElementType::f32;
}
template <>
constexpr ElementType element_type_of<bfloat16>() {
  return ElementType::bf16;
}
template <>
constexpr ElementType element_type_of<float16>() {
  return ElementType::f16;
}
template <>
constexpr ElementType element_type_of<std::int32_t>() {
  return ElementType::i32;
}
template <>
constexpr ElementType element_type_of<std::int64_t>() {
  return ElementType::i64;
}
template <>
constexpr ElementType element_type_of<std::uint8_t>() {
  return ElementType::u8;
}

using Shape = std::vector<std::int64_t>;

std::string shape_to_string(const Shape& shape);
std::int64_t shape_numel(const Shape& shape);

class HostTensor {
 public:
  HostTensor() = default;
  HostTensor(ElementType type, Shape shape);  // zero-filled

  template <typename T>
  static HostTensor zeros(Shape shape) {
    return HostTensor(element_type_of<T>(), std::move(shape));
  }

  ElementType type() const { return type_; }
  const Shape& shape() const { return shape_; }
  std::int64_t dim(std::size_t i) const { return shape_.at(i); }
  std::size_t rank() const { return shape_.size(); }
  std::int64_t numel() const { return numel_; }
  std::size_t nbytes() const { return nbytes_; }
  bool empty() const { return numel_ == 0; }
  bool defined() const { return !shape_.empty(); }

  void* raw() { return blocks_.data(); }
  const void* raw() const { return blocks_.data(); }

  // Typed views; throw when T does not match the stored element type.
  template <typename T>
  std::span<T> data() {
    check_type(element_type_of<T>());
    return {static_cast<T*>(raw()), static_cast<std::size_t>(numel_)};
  }
  template <typename T>
  std::span<const T> data() const {
    check_type(element_type_of<T>());
    return {static_cast<const T*>(raw()), static_cast<std::size_t>(numel_)};
  }

  // Value i widened to double (exact for every floating and integer type stored here).
  double get(std::int64_t i) const;
  // Stores v rounded to the element type (round to nearest even for bf16/fp16).
  void set(std::int64_t i, double v);

  // A copy converted to another element type (values rounded as set() does).
  HostTensor to(ElementType type) const;

  // Throws naming `what`, the expected and the actual shape/type when they differ.
  void expect(const std::string& what, ElementType type, const Shape& shape) const;

 private:
  void check_type(ElementType requested) const;

  ElementType type_ = ElementType::f32;
  Shape shape_;
  std::int64_t numel_ = 0;
  std::size_t nbytes_ = 0;
  // 64-byte alignment matters for vectorised kernels; std::vector<std::byte> gives only 16, so
  // storage is allocated in whole 64-byte blocks. Copies stay deep and independent.
  struct alignas(64) Block {
    std::byte b[64];
  };
  std::vector<Block> blocks_;
};

}  // namespace flashmoe
