#include "config/json_document.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include "flashmoe/error.hpp"

namespace flashmoe::config_detail {
namespace {

// nlohmann's messages start with "[json.exception.parse_error.101] parse error at line 1,
// column 7: "; keep only the reason after the last ": " of that prefix, since the position is
// reported separately (computed from the byte offset, which every nlohmann version provides).
std::string parse_error_reason(const char* what) {
  std::string_view text(what);
  const std::size_t colon = text.find(": ");
  if (colon != std::string_view::npos) text.remove_prefix(colon + 2);
  return std::string(text);
}

}  // namespace

TextPosition text_position(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  TextPosition position;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++position.line;
      position.column = 1;
    } else {
      ++position.column;
    }
  }
  return position;
}

nlohmann::json parse_json_object(std::string_view text, std::string_view source) {
  // One set of keys per open object; the callback sees keys before their values.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  const auto watch_keys = [&](int /*depth*/, nlohmann::json::parse_event_t event,
                              nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Event::key && !open_objects.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };

  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text.begin(), text.end(), watch_keys);
  } catch (const nlohmann::json::parse_error& error) {
    // error.byte counts the characters read, so the offending character is at byte - 1.
    const TextPosition at = text_position(text, error.byte == 0 ? 0 : error.byte - 1);
    FLASHMOE_FAIL("malformed JSON in ", source, " at line ", at.line, ", column ", at.column, ": ",
                  parse_error_reason(error.what()));
  }
  if (!duplicate.empty())
    FLASHMOE_FAIL("duplicate key '", duplicate, "' in ", source, ": each key may appear once");
  if (!document.is_object()) {
    FLASHMOE_FAIL(source, ": expected a JSON object ({\"key\": value, ...}) at the top level, got ",
                  json_type_name(document));
  }
  return document;
}

std::string_view json_type_name(const nlohmann::json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_null()) return "null";
  if (value.is_array()) return "an array";
  return "an object";
}

std::string json_value_text(const nlohmann::json& value) {
  constexpr std::size_t kMaxChars = 60;
  std::string text = value.dump();
  if (text.size() > kMaxChars) text = text.substr(0, kMaxChars - 3) + "...";
  return text;
}

}  // namespace flashmoe::config_detail
