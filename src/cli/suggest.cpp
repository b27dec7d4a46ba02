#include "cli/suggest.hpp"

#include "common/nearest_word.hpp"

namespace flashmoe::cli {

std::optional<std::string> nearest(std::string_view word,
                                   const std::vector<std::string>& candidates) {
  const std::vector<std::string_view> views(candidates.begin(), candidates.end());
  const auto match = nearest_word(word, views);
  if (!match) return std::nullopt;
  return std::string(*match);
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates,
                         std::string_view prefix) {
  const auto match = nearest(word, candidates);
  if (!match) return {};
  return "; did you mean '" + std::string(prefix) + *match + "'?";
}

}  // namespace flashmoe::cli
