#include "config/text_values.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <system_error>

#include "common/nearest_word.hpp"
#include "common/short_text.hpp"

namespace flashmoe::config_detail {

std::optional<std::int64_t> parse_int64(std::string_view text) {
  // from_chars refuses a leading '+', which people do type ("+2"); accept it explicitly.
  if (text.size() > 1 && text.front() == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view text) {
  if (text.size() > 1 && text.front() == '+') text.remove_prefix(1);
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "true" || lower == "1" || lower == "on" || lower == "yes") return true;
  if (lower == "false" || lower == "0" || lower == "off" || lower == "no") return false;
  return std::nullopt;
}

std::string format_double(double value) {
  char buffer[64];
  // Without a precision, to_chars writes the shortest round-trip form, so equal text means
  // equal value (the config hash relies on this).
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (error != std::errc{}) return "?";  // unreachable: 64 characters hold any double
  return std::string(buffer, end);
}

std::string unknown_key_message(std::string_view key, std::string_view where,
                                const std::vector<std::string_view>& valid_keys) {
  std::string message = "unknown key '" + short_text(key) + "'";
  if (!where.empty()) message += " in " + std::string(where);

  // Without a plausible suggestion, list every key so the reader can pick.
  if (const auto nearest = nearest_word(key, valid_keys)) {
    message += "; did you mean '" + std::string(*nearest) + "'?";
  } else {
    message += "; valid keys are";
    for (std::size_t i = 0; i < valid_keys.size(); ++i)
      message += (i == 0 ? " " : ", ") + std::string(valid_keys[i]);
  }
  return message;
}

}  // namespace flashmoe::config_detail
