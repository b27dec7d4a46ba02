// Errors: every failure in flashmoe's host code is a flashmoe::Error whose message names what
// was wrong, the value seen and what was allowed. Library code never calls exit() and never
// drops work silently; it throws and lets the caller decide.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace flashmoe {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A peer did not deliver what a rank waited for within the configured timeout.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

// This rank stopped because another rank of the job failed first; that rank's own error names
// the cause, so whoever reports this one should let that report come first.
class PeerAbortError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}
[[noreturn]] void throw_check_failure(const char* file, int line, const char* condition,
                                      const std::string& message);
}  // namespace detail

}  // namespace flashmoe

// FLASHMOE_CHECK(cond, "tensor x: expected ", a, " rows, got ", b) throws flashmoe::Error with
// the message, the failed condition and file:line.
#define FLASHMOE_CHECK(cond, ...)                                                       \
  do {                                                                                  \
    if (!(cond)) [[unlikely]] {                                                         \
      ::flashmoe::detail::throw_check_failure(__FILE__, __LINE__, #cond,                \
                                              ::flashmoe::detail::concat(__VA_ARGS__)); \
    }                                                                                   \
  } while (0)

// FLASHMOE_FAIL("...") throws unconditionally (for unreachable switch arms and refusals).
#define FLASHMOE_FAIL(...)                                             \
  ::flashmoe::detail::throw_check_failure(__FILE__, __LINE__, nullptr, \
                                          ::flashmoe::detail::concat(__VA_ARGS__))
