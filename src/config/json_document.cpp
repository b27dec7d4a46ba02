#include "config/json_document.hpp"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <set>
#include <vector>

#include "common/short_text.hpp"
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

// nlohmann quotes the rest of the offending token in its message; a long one is cut.
constexpr std::size_t kMaxReasonChars = 160;

// A const char* that records in *furthest how far the parser has read: the parse callback,
// which nlohmann gives no position, reads it to say where an error is. The lexer reads at most
// one character past a token (after a number), so an error is located to within one column.
class TrackingIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackingIterator(const char* at, const char** furthest) : at_(at), furthest_(furthest) {}
  reference operator*() const { return *at_; }
  TrackingIterator& operator++() {
    ++at_;
    if (at_ > *furthest_) *furthest_ = at_;
    return *this;
  }
  TrackingIterator operator++(int) {
    TrackingIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const TrackingIterator& other) const { return at_ == other.at_; }

 private:
  const char* at_;
  const char** furthest_;
};

bool is_number_char(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// The number literal that ends at `end` or one character before it (the lexer's look-ahead).
std::string_view number_before(std::string_view text, std::size_t end) {
  end = std::min(end, text.size());
  if (end > 0 && !is_number_char(text[end - 1])) --end;
  std::size_t start = end;
  while (start > 0 && is_number_char(text[start - 1])) --start;
  return text.substr(start, end - start);
}

std::size_t offset_in(std::string_view text, std::string_view part) {
  return static_cast<std::size_t>(part.data() - text.data());
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
  // nlohmann's lexer takes a NUL for the end of the input and would ignore what follows it.
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    const TextPosition at = text_position(text, nul);
    FLASHMOE_FAIL(source, " at line ", at.line, ", column ", at.column, " (byte ", nul,
                  "): a NUL byte, which JSON text may not hold (is this a binary file?)");
  }

  const char* furthest = text.data();
  const TrackingIterator first(text.data(), &furthest);
  const TrackingIterator last(text.data() + text.size(), &furthest);
  // Where the parser is and the key it is under, for errors found during the parse.
  const auto where = [&](std::size_t offset, std::string_view key) {
    const TextPosition at = text_position(text, offset);
    std::string place = detail::concat(source, " at line ", at.line, ", column ", at.column);
    if (!key.empty()) place += ", key '" + short_text(key) + "'";
    return place;
  };
  const auto read_so_far = [&] { return static_cast<std::size_t>(furthest - text.data()); };
  // The last character read: the one that completed the event being handled.
  const auto last_read = [&] { return read_so_far() == 0 ? 0 : read_so_far() - 1; };

  // One set of keys and the key being read per open object; the callback sees keys before
  // their values and containers before their contents.
  std::vector<std::set<std::string>> open_objects;
  std::vector<std::string> current_key;
  const auto innermost_key = [&] {
    return current_key.empty() ? std::string_view() : std::string_view(current_key.back());
  };
  const auto watch = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth) {
      FLASHMOE_FAIL(where(last_read(), innermost_key()), ": nested more than ", kMaxJsonDepth,
                    " levels deep (flashmoe's files nest at most 2)");
    }
    if (event == Event::object_start) {
      open_objects.emplace_back();
      current_key.emplace_back();
    } else if (event == Event::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
      if (!current_key.empty()) current_key.pop_back();
    } else if (event == Event::key && !open_objects.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second) {
        FLASHMOE_FAIL("duplicate key '", short_text(key), "' in ", where(last_read(), ""),
                      ": each key may appear once");
      }
      current_key.back() = key;
    } else if (event == Event::value && parsed.is_number_float()) {
      const std::string_view literal = number_before(text, read_so_far());
      if (literal.find_first_of(".eE") == std::string_view::npos) {
        FLASHMOE_FAIL(where(offset_in(text, literal), innermost_key()), ": the integer ",
                      short_text(literal), " is out of range (integers must lie in [-2^63, 2^64))");
      }
    }
    return true;
  };

  nlohmann::json document;
  try {
    document = nlohmann::json::parse(first, last, watch);
  } catch (const nlohmann::json::parse_error& error) {
    // error.byte counts the characters read, so the offending character is at byte - 1.
    const TextPosition at = text_position(text, error.byte == 0 ? 0 : error.byte - 1);
    FLASHMOE_FAIL("malformed JSON in ", source, " at line ", at.line, ", column ", at.column, ": ",
                  short_text(parse_error_reason(error.what()), kMaxReasonChars));
  } catch (const nlohmann::json::out_of_range&) {
    // The one out_of_range the parser throws: a number beyond the range of a double (406).
    const std::string_view literal = number_before(text, read_so_far());
    FLASHMOE_FAIL(where(offset_in(text, literal), innermost_key()), ": the number ",
                  short_text(literal), " is out of range (beyond ±1.8e308, the range of a double)");
  }
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
  // The value is at most kMaxJsonDepth deep (parse_json_object), so dump() cannot recurse far.
  return short_text(value.dump());
}

}  // namespace flashmoe::config_detail
