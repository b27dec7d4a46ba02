#include "flashmoe/error.hpp"

#include <cstring>

namespace flashmoe::detail {

void throw_check_failure(const char* file, int line, const char* condition,
                         const std::string& message) {
  // Keep only the path below the project root so messages are stable across checkouts.
  const char* short_file = std::strstr(file, "/src/");
  if (short_file == nullptr) short_file = std::strstr(file, "/include/");
  short_file = short_file ? short_file + 1 : file;
  std::string text = message;
  text += " [";
  text += short_file;
  text += ':';
  text += std::to_string(line);
  if (condition != nullptr) {
    text += ", check failed: ";
    text += condition;
  }
  text += ']';
  throw Error(text);
}

}  // namespace flashmoe::detail
