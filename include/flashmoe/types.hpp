// Enumerations shared by every layer of flashmoe: element types and activations.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace flashmoe {

// Storage/compute precision of a layer (SPEC §4). fp64 is CPU-only (gradient checks).
enum class DType : std::uint8_t { fp64, fp32, bf16, fp16 };

// Expert activations (SPEC §2.6). swiglu and geglu are gated: w1 has 2P rows.
enum class Activation : std::uint8_t { relu, gelu, gelu_tanh, silu, identity, swiglu, geglu };

// Element types of host tensors (adds the index/bool types of the routing record).
enum class ElementType : std::uint8_t { f64, f32, bf16, f16, i32, i64, u8 };

constexpr bool is_gated(Activation a) {
  return a == Activation::swiglu || a == Activation::geglu;
}

std::string_view to_string(DType d);
std::string_view to_string(Activation a);
std::string_view to_string(ElementType t);
std::optional<DType> parse_dtype(std::string_view name);
std::optional<Activation> parse_activation(std::string_view name);

std::size_t element_size(ElementType t);
// The element type in which a layer of dtype d stores its floating tensors.
ElementType storage_type(DType d);

// Comma-separated lists of the accepted names, for error messages and --help.
std::string_view dtype_names();
std::string_view activation_names();

}  // namespace flashmoe
