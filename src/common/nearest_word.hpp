// "Did you mean ...?": the one suggestion rule behind every unknown key, option, subcommand
// and backend, so all of flashmoe's error messages suggest alike.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace flashmoe {

// Levenshtein distance (insertions, deletions and substitutions each cost 1), where '-' and
// '_' count as the same character so that `--top-k` finds `--top_k`.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is a plausible typo: within a third of the word's
// length (at least 2) edits, or `word` (3+ characters) is a prefix of it, i.e. an
// abbreviation. Otherwise nothing: a far-off suggestion ("foo" → "ffn") is noise.
std::optional<std::string_view> nearest_word(std::string_view word,
                                             const std::vector<std::string_view>& candidates);

}  // namespace flashmoe
