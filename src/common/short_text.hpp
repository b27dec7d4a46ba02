// A value quoted in an error message is cut to a short prefix: a message must stay readable,
// and cheap to build, whatever a file holds (a key of a megabyte, an array nested 64 deep).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace flashmoe {

inline constexpr std::size_t kMaxQuotedChars = 40;

// `text` itself when it has at most max_bytes bytes, else its first max_bytes (never cutting
// a UTF-8 sequence in two) followed by "…".
inline std::string short_text(std::string_view text, std::size_t max_bytes = kMaxQuotedChars) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0u) == 0x80u) --cut;
  return std::string(text.substr(0, cut)) + "…";
}

}  // namespace flashmoe
