// "Did you mean ...?" for mistyped options, configuration keys, subcommands and backends.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flashmoe::cli {

// The candidate closest to `word` by edit distance ('-' and '_' count as equal, so --top-k
// finds --top_k), when it is close enough to be a plausible typo; otherwise nothing.
std::optional<std::string> nearest(std::string_view word,
                                   const std::vector<std::string>& candidates);

// "; did you mean 'X'?" or an empty string, ready to append to an error message.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates,
                         std::string_view prefix = "");

}  // namespace flashmoe::cli
