// Tests of refusals: run a call that must throw flashmoe::Error and check that its message
// names what a user needs (the key, the value, the tensor, what is allowed).
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "flashmoe/error.hpp"

namespace flashmoe::test {

// The message of the flashmoe::Error thrown by f(); when none is thrown, a test failure and an
// empty message.
template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a flashmoe::Error, none was thrown";
  return {};
}

inline void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

inline ::testing::AssertionResult contains_all(const std::string& message,
                                               std::initializer_list<std::string_view> parts) {
  for (std::string_view part : parts) {
    if (message.find(part) == std::string::npos)
      return ::testing::AssertionFailure() << "'" << part << "' missing from: " << message;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace flashmoe::test
