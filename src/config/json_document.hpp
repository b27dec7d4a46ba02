// Reading JSON text into a top-level object with errors a person can act on: the position
// (line and column) of a syntax error, duplicate keys, and the type and text of a bad value.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace flashmoe::config_detail {

// Parses text that must hold one JSON object. Throws flashmoe::Error naming `source` and, for
// malformed JSON, the line and column; a key repeated in one object is refused too (JSON
// parsers silently keep the last one, which hides mistakes).
nlohmann::json parse_json_object(std::string_view text, std::string_view source);

// "an integer", "a number", "a string", "a boolean", "null", "an array", "an object".
std::string_view json_type_name(const nlohmann::json& value);

// Compact JSON text of a value for messages, shortened when long.
std::string json_value_text(const nlohmann::json& value);

// 1-based line and column of the character at `offset` (a 0-based byte index) in text.
struct TextPosition {
  std::size_t line = 1;
  std::size_t column = 1;
};
TextPosition text_position(std::string_view text, std::size_t offset);

}  // namespace flashmoe::config_detail
