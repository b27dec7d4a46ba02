// Reading JSON text into a top-level object with errors a person can act on: the position
// (line and column) of a syntax error, duplicate keys, and the type and text of a bad value.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace flashmoe::config_detail {

// Containers nest at most this deep. flashmoe's files nest 2 levels (meta.json's token list);
// the cap keeps every recursive walk of a parsed value (dump(), destruction, comparisons) far
// from the stack's end, which an array nested 10^5 deep would reach.
inline constexpr int kMaxJsonDepth = 64;

// Parses text that must hold one JSON object. Throws flashmoe::Error naming `source` and the
// line and column for: malformed JSON, a NUL byte (nlohmann would stop reading there), nesting
// beyond kMaxJsonDepth, a key repeated in one object (JSON parsers silently keep the last one,
// which hides mistakes), a number beyond a double's range or an integer literal beyond 64 bits
// (nlohmann would make it a double); the last two name the key too.
nlohmann::json parse_json_object(std::string_view text, std::string_view source);

// "an integer", "a number", "a string", "a boolean", "null", "an array", "an object".
std::string_view json_type_name(const nlohmann::json& value);

// Compact JSON text of a value for messages, cut to a short prefix (short_text) when long.
std::string json_value_text(const nlohmann::json& value);

// 1-based line and column of the character at `offset` (a 0-based byte index) in text.
struct TextPosition {
  std::size_t line = 1;
  std::size_t column = 1;
};
TextPosition text_position(std::string_view text, std::size_t offset);

}  // namespace flashmoe::config_detail
