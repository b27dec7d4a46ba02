// The table of Config fields: one row per key, in declaration order. Every by-name operation
// (overrides, JSON, hash, comparison, --help) walks this table, so a field added to Config and
// to the table is handled everywhere at once.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "flashmoe/config.hpp"

namespace flashmoe::config_detail {

using FieldMember = std::variant<std::int64_t Config::*, double Config::*, bool Config::*,
                                 Activation Config::*, DType Config::*>;

// Overload set for std::visit over a FieldMember (one lambda per field type).
template <typename... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
// C++20 deduces this for an aggregate by itself; clang before 17 (Debian 12 has 14, which
// builds the fuzz targets) needs the guide spelled out.
template <typename... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

struct ConfigField {
  std::string_view key;  // JSON key and override name, identical to the member's name
  FieldMember member;
};

std::span<const ConfigField> config_fields();
// nullptr when no field has this key.
const ConfigField* find_config_field(std::string_view key);

// Canonical text of a field's value: integers in decimal, doubles in shortest round-trip form,
// booleans as true/false, enums by name. Equal text ⇔ equal value (NaN aside).
std::string field_value_text(const Config& config, const ConfigField& field);

// What a field accepts, for error messages: "an integer", "a number", "true or false (also
// 1/0, on/off, yes/no)", "one of relu, gelu, ...".
std::string field_allowed_text(const ConfigField& field);

}  // namespace flashmoe::config_detail
