#include "config/text_values.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <numeric>
#include <system_error>

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

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // One row of the dynamic-programming table: row[j] = distance(a[0..i), b[0..j)).
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string unknown_key_message(std::string_view key, std::string_view where,
                                const std::vector<std::string_view>& valid_keys) {
  std::string message = "unknown key '" + std::string(key) + "'";
  if (!where.empty()) message += " in " + std::string(where);

  std::string_view nearest;
  std::size_t best = std::string_view::npos;
  for (std::string_view candidate : valid_keys) {
    const std::size_t distance = edit_distance(key, candidate);
    if (distance < best) {
      best = distance;
      nearest = candidate;
    }
  }
  // A suggestion further away than about a third of the word is noise ("foo" → "ffn");
  // list every key instead so the reader can pick.
  const std::size_t close_enough = std::max<std::size_t>(2, key.size() / 3);
  if (!nearest.empty() && best <= close_enough) {
    message += "; did you mean '" + std::string(nearest) + "'?";
  } else {
    message += "; valid keys are";
    for (std::size_t i = 0; i < valid_keys.size(); ++i)
      message += (i == 0 ? " " : ", ") + std::string(valid_keys[i]);
  }
  return message;
}

}  // namespace flashmoe::config_detail
