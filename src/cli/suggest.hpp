// "Did you mean ...?" for mistyped options, configuration keys, subcommands and backends.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flashmoe::cli {

// The candidate closest to `word` when it is a plausible typo (common/nearest_word.hpp's rule);
// otherwise nothing.
std::optional<std::string> nearest(std::string_view word,
                                   const std::vector<std::string>& candidates);

// "; did you mean 'X'?" or an empty string, ready to append to an error message.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates,
                         std::string_view prefix = "");

}  // namespace flashmoe::cli
