#include "flashmoe/types.hpp"

#include <array>
#include <utility>

#include "flashmoe/error.hpp"

namespace flashmoe {
namespace {
constexpr std::array<std::pair<DType, std::string_view>, 4> kDTypes{
    {{DType::fp64, "fp64"}, {DType::fp32, "fp32"}, {DType::bf16, "bf16"}, {DType::fp16, "fp16"}}};
constexpr std::array<std::pair<Activation, std::string_view>, 7> kActivations{
    {{Activation::relu, "relu"},
     {Activation::gelu, "gelu"},
     {Activation::gelu_tanh, "gelu_tanh"},
     {Activation::silu, "silu"},
     {Activation::identity, "identity"},
     {Activation::swiglu, "swiglu"},
     {Activation::geglu, "geglu"}}};
}  // namespace

std::string_view to_string(DType d) {
  for (const auto& [value, name] : kDTypes)
    if (value == d) return name;
  FLASHMOE_FAIL("invalid DType value ", static_cast<int>(d));
}

std::string_view to_string(Activation a) {
  for (const auto& [value, name] : kActivations)
    if (value == a) return name;
  FLASHMOE_FAIL("invalid Activation value ", static_cast<int>(a));
}

std::string_view to_string(ElementType t) {
  switch (t) {
    case ElementType::f64:
      return "float64";
    case ElementType::f32:
      return "float32";
    case ElementType::bf16:
      return "bfloat16";
    case ElementType::f16:
      return "float16";
    case ElementType::i32:
      return "int32";
    case ElementType::i64:
      return "int64";
    case ElementType::u8:
      return "uint8";
  }
  FLASHMOE_FAIL("invalid ElementType value ", static_cast<int>(t));
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& [value, known] : kDTypes)
    if (known == name) return value;
  return std::nullopt;
}

std::optional<Activation> parse_activation(std::string_view name) {
  for (const auto& [value, known] : kActivations)
    if (known == name) return value;
  return std::nullopt;
}

std::size_t element_size(ElementType t) {
  switch (t) {
    case ElementType::f64:
    case ElementType::i64:
      return 8;
    case ElementType::f32:
    case ElementType::i32:
      return 4;
    case ElementType::bf16:
    case ElementType::f16:
      return 2;
    case ElementType::u8:
      return 1;
  }
  FLASHMOE_FAIL("invalid ElementType value ", static_cast<int>(t));
}

ElementType storage_type(DType d) {
  switch (d) {
    case DType::fp64:
      return ElementType::f64;
    case DType::fp32:
      return ElementType::f32;
    case DType::bf16:
      return ElementType::bf16;
    case DType::fp16:
      return ElementType::f16;
  }
  FLASHMOE_FAIL("invalid DType value ", static_cast<int>(d));
}

std::string_view dtype_names() {
  return "fp64, fp32, bf16, fp16";
}
std::string_view activation_names() {
  return "relu, gelu, gelu_tanh, silu, identity, swiglu, geglu";
}

}  // namespace flashmoe
