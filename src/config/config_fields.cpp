#include "config/config_fields.hpp"

#include <array>

#include "common/short_text.hpp"
#include "config/text_values.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe {
namespace config_detail {
namespace {

const std::array<ConfigField, 15> kFields{{
    {"hidden", &Config::hidden},
    {"ffn", &Config::ffn},
    {"experts", &Config::experts},
    {"top_k", &Config::top_k},
    {"capacity_factor", &Config::capacity_factor},
    {"drop_tokens", &Config::drop_tokens},
    {"activation", &Config::activation},
    {"bias", &Config::bias},
    {"normalize_weights", &Config::normalize_weights},
    {"dtype", &Config::dtype},
    {"allow_tf32", &Config::allow_tf32},
    {"max_tokens", &Config::max_tokens},
    {"aux_loss", &Config::aux_loss},
    {"z_loss", &Config::z_loss},
    {"wait_timeout_s", &Config::wait_timeout_s},
}};

// Compile-time guard: this binding names exactly as many members as Config has, so adding or
// removing a field breaks the build here, as a reminder to update kFields (and the docs).
[[maybe_unused]] void field_count_guard(const Config& config) {
  [[maybe_unused]] const auto& [hidden, ffn, experts, top_k, capacity_factor, drop_tokens,
                                activation, bias, normalize_weights, dtype, allow_tf32, max_tokens,
                                aux_loss, z_loss, wait_timeout_s] = config;
}

}  // namespace

std::span<const ConfigField> config_fields() {
  return kFields;
}

const ConfigField* find_config_field(std::string_view key) {
  for (const ConfigField& field : kFields)
    if (field.key == key) return &field;
  return nullptr;
}

std::string field_value_text(const Config& config, const ConfigField& field) {
  return std::visit(Overloaded{
                        [&](std::int64_t Config::*m) { return std::to_string(config.*m); },
                        [&](double Config::*m) { return format_double(config.*m); },
                        [&](bool Config::*m) { return std::string(config.*m ? "true" : "false"); },
                        [&](Activation Config::*m) { return std::string(to_string(config.*m)); },
                        [&](DType Config::*m) { return std::string(to_string(config.*m)); },
                    },
                    field.member);
}

std::string field_allowed_text(const ConfigField& field) {
  return std::visit(
      Overloaded{
          [](std::int64_t Config::*) { return std::string("an integer"); },
          [](double Config::*) { return std::string("a number"); },
          [](bool Config::*) { return std::string("true or false (also 1/0, on/off, yes/no)"); },
          [](Activation Config::*) { return "one of " + std::string(activation_names()); },
          [](DType Config::*) { return "one of " + std::string(dtype_names()); },
      },
      field.member);
}

}  // namespace config_detail

const std::vector<std::string_view>& config_keys() {
  static const std::vector<std::string_view> keys = [] {
    std::vector<std::string_view> names;
    for (const auto& field : config_detail::config_fields()) names.push_back(field.key);
    return names;
  }();
  return keys;
}

void set_config_field(Config& config, std::string_view key, std::string_view value) {
  using namespace config_detail;
  const ConfigField* field = find_config_field(key);
  if (field == nullptr) FLASHMOE_FAIL(unknown_key_message(key, "", config_keys()));

  // Each arm stores the parsed value and reports whether the text was acceptable; ranges are
  // checked later by validate(), once every override has been applied.
  const bool parsed = std::visit(Overloaded{
                                     [&](std::int64_t Config::*m) {
                                       const auto v = parse_int64(value);
                                       if (v) config.*m = *v;
                                       return v.has_value();
                                     },
                                     [&](double Config::*m) {
                                       const auto v = parse_double(value);
                                       if (v) config.*m = *v;
                                       return v.has_value();
                                     },
                                     [&](bool Config::*m) {
                                       const auto v = parse_bool(value);
                                       if (v) config.*m = *v;
                                       return v.has_value();
                                     },
                                     [&](Activation Config::*m) {
                                       const auto v = parse_activation(value);
                                       if (v) config.*m = *v;
                                       return v.has_value();
                                     },
                                     [&](DType Config::*m) {
                                       const auto v = parse_dtype(value);
                                       if (v) config.*m = *v;
                                       return v.has_value();
                                     },
                                 },
                                 field->member);
  if (!parsed) {
    FLASHMOE_FAIL("invalid value '", short_text(value), "' for key '", key, "': expected ",
                  field_allowed_text(*field));
  }
}

}  // namespace flashmoe
