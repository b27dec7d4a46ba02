#include "flashmoe/tensor.hpp"

#include <cstring>
#include <sstream>

namespace flashmoe {

std::string shape_to_string(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    FLASHMOE_CHECK(d >= 0, "negative dimension in shape ", shape_to_string(shape));
    n *= d;
  }
  return n;
}

HostTensor::HostTensor(ElementType type, Shape shape)
    : type_(type), shape_(std::move(shape)), numel_(shape_numel(shape_)) {
  nbytes_ = static_cast<std::size_t>(numel_) * element_size(type_);
  blocks_.resize((nbytes_ + sizeof(Block) - 1) / sizeof(Block));
  // vector value-initialises its blocks, so the storage is already zero-filled.
}

void HostTensor::check_type(ElementType requested) const {
  FLASHMOE_CHECK(requested == type_, "tensor of element type ", to_string(type_), " accessed as ",
                 to_string(requested));
}

double HostTensor::get(std::int64_t i) const {
  const std::byte* p =
      static_cast<const std::byte*>(raw()) + static_cast<std::size_t>(i) * element_size(type_);
  switch (type_) {
    case ElementType::f64: {
      double v;
      std::memcpy(&v, p, 8);
      return v;
    }
    case ElementType::f32: {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case ElementType::bf16: {
      bfloat16 v;
      std::memcpy(&v, p, 2);
      return v.to_float();
    }
    case ElementType::f16: {
      float16 v;
      std::memcpy(&v, p, 2);
      return v.to_float();
    }
    case ElementType::i32: {
      std::int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case ElementType::i64: {
      std::int64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<double>(v);
    }
    case ElementType::u8:
      return static_cast<double>(std::to_integer<std::uint8_t>(*p));
  }
  FLASHMOE_FAIL("invalid element type");
}

void HostTensor::set(std::int64_t i, double v) {
  std::byte* p = static_cast<std::byte*>(raw()) + static_cast<std::size_t>(i) * element_size(type_);
  switch (type_) {
    case ElementType::f64:
      std::memcpy(p, &v, 8);
      return;
    case ElementType::f32: {
      const float f = static_cast<float>(v);
      std::memcpy(p, &f, 4);
      return;
    }
    case ElementType::bf16: {
      const auto h = from_float<bfloat16>(v);
      std::memcpy(p, &h, 2);
      return;
    }
    case ElementType::f16: {
      const auto h = from_float<float16>(v);
      std::memcpy(p, &h, 2);
      return;
    }
    case ElementType::i32: {
      const auto x = static_cast<std::int32_t>(v);
      std::memcpy(p, &x, 4);
      return;
    }
    case ElementType::i64: {
      const auto x = static_cast<std::int64_t>(v);
      std::memcpy(p, &x, 8);
      return;
    }
    case ElementType::u8:
      *p = static_cast<std::byte>(static_cast<std::uint8_t>(v));
      return;
  }
  FLASHMOE_FAIL("invalid element type");
}

HostTensor HostTensor::to(ElementType type) const {
  HostTensor out(type, shape_);
  if (type == type_) {
    if (nbytes_ > 0) std::memcpy(out.raw(), raw(), nbytes_);
    return out;
  }
  for (std::int64_t i = 0; i < numel_; ++i) out.set(i, get(i));
  return out;
}

void HostTensor::expect(const std::string& what, ElementType type, const Shape& shape) const {
  FLASHMOE_CHECK(type_ == type && shape_ == shape, "tensor ", what, ": expected ", to_string(type),
                 ' ', shape_to_string(shape), ", got ", to_string(type_), ' ',
                 shape_to_string(shape_));
}

}  // namespace flashmoe
