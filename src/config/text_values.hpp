// Text-to-value conversions shared by command-line overrides (`--top_k 2`, `top_k=2`) and the
// JSON readers, and the nearest-key suggestion behind every "unknown key" error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flashmoe::config_detail {

// Each parser accepts the whole text or nothing: "2x" is not 2.
std::optional<std::int64_t> parse_int64(std::string_view text);
std::optional<double> parse_double(std::string_view text);
// true/false, 1/0, on/off, yes/no, in any letter case.
std::optional<bool> parse_bool(std::string_view text);

// The shortest decimal text that reads back as exactly the same double ("1.25", "60").
std::string format_double(double value);

// "unknown key 'topk' in <where>; did you mean 'top_k'?" — or, when no valid key is close,
// the list of valid keys. `where` may be empty (command-line overrides).
std::string unknown_key_message(std::string_view key, std::string_view where,
                                const std::vector<std::string_view>& valid_keys);

}  // namespace flashmoe::config_detail
