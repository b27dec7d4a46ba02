#include "config/config_json.hpp"

#include <cstdint>
#include <limits>

#include "config/config_fields.hpp"
#include "config/json_document.hpp"
#include "config/text_values.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe {
namespace config_detail {
namespace {

[[noreturn]] void fail_type(std::string_view source, const ConfigField& field,
                            const nlohmann::json& value, std::string_view expected) {
  FLASHMOE_FAIL(source, ": key '", field.key, "' has value ", json_value_text(value), " (",
                json_type_name(value), "); expected ", expected);
}

// Reads one field from its JSON value. Types are strict: "2" (a string) is not an integer and
// 1 is not a boolean, because the JSON file is written by a program or a careful person, and
// a quiet conversion would hide a mistake. (Command-line text is parsed more freely.)
void read_field(Config& config, const ConfigField& field, const nlohmann::json& value,
                std::string_view source) {
  std::visit(Overloaded{
                 [&](std::int64_t Config::*m) {
                   if (!value.is_number_integer()) fail_type(source, field, value, "an integer");
                   if (value.is_number_unsigned() &&
                       value.get<std::uint64_t>() >
                           static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                     fail_type(source, field, value, "an integer that fits in 64 bits");
                   }
                   config.*m = value.get<std::int64_t>();
                 },
                 [&](double Config::*m) {
                   if (!value.is_number()) fail_type(source, field, value, "a number");
                   config.*m = value.get<double>();
                 },
                 [&](bool Config::*m) {
                   if (!value.is_boolean()) fail_type(source, field, value, "true or false");
                   config.*m = value.get<bool>();
                 },
                 [&](Activation Config::*m) {
                   const std::string expected =
                       "a string, one of " + std::string(activation_names());
                   if (!value.is_string()) fail_type(source, field, value, expected);
                   const auto parsed = parse_activation(value.get_ref<const std::string&>());
                   if (!parsed) fail_type(source, field, value, expected);
                   config.*m = *parsed;
                 },
                 [&](DType Config::*m) {
                   const std::string expected = "a string, one of " + std::string(dtype_names());
                   if (!value.is_string()) fail_type(source, field, value, expected);
                   const auto parsed = parse_dtype(value.get_ref<const std::string&>());
                   if (!parsed) fail_type(source, field, value, expected);
                   config.*m = *parsed;
                 },
             },
             field.member);
}

}  // namespace

Config config_from_json_object(const nlohmann::json& object, std::string_view source) {
  Config config;
  for (const auto& [key, value] : object.items()) {
    const ConfigField* field = find_config_field(key);
    if (field == nullptr) FLASHMOE_FAIL(unknown_key_message(key, source, config_keys()));
    read_field(config, *field, value, source);
  }
  return config;
}

}  // namespace config_detail

std::string config_to_json(const Config& config) {
  using namespace config_detail;
  // ordered_json keeps insertion order, so the text lists fields in declaration order.
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (const ConfigField& field : config_fields()) {
    std::visit(
        Overloaded{
            [&](std::int64_t Config::*m) { object[std::string(field.key)] = config.*m; },
            [&](double Config::*m) { object[std::string(field.key)] = config.*m; },
            [&](bool Config::*m) { object[std::string(field.key)] = config.*m; },
            [&](Activation Config::*m) { object[std::string(field.key)] = to_string(config.*m); },
            [&](DType Config::*m) { object[std::string(field.key)] = to_string(config.*m); },
        },
        field.member);
  }
  return object.dump(2) + "\n";
}

Config config_from_json(std::string_view json_text, std::string_view source_name) {
  using namespace config_detail;
  return config_from_json_object(parse_json_object(json_text, source_name), source_name);
}

}  // namespace flashmoe
