// A small command-line parser shared by the subcommands: `--key value`, `--key=value`, flags
// (`--check`, or explicitly `--check=false`), `key=value` configuration overrides, and `-h` /
// `--help`. Every mistake is a UsageError that says what was wrong and, for a mistyped name,
// which option was probably meant.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.hpp"

namespace flashmoe::cli {

struct OptionSpec {
  enum class Kind { value, flag };
  std::string name;  // without the leading "--"
  Kind kind = Kind::value;
  std::string value_name;  // placeholder in help: FILE, N, ...
  std::string help;
};

struct ParsedOption {
  std::string name;
  std::string value;        // flags: "true" or "false"
  bool assignment = false;  // given as a key=value positional
};

struct ParsedArgs {
  std::vector<ParsedOption> options;  // in command-line order, key=value overrides included
  bool help = false;

  bool has(std::string_view name) const;
  // The value of the last occurrence (a later option overrides an earlier one).
  std::optional<std::string> value(std::string_view name) const;
  // A flag's state: false when absent, else its last value.
  bool flag(std::string_view name) const;
};

// `assignment_keys`: names accepted as `key=value` positionals (the configuration keys); other
// positionals are refused. A flag may also be followed by a separate true/false, on/off or
// yes/no; flag values are normalised to "true"/"false".
ParsedArgs parse_args(const Args& args, const std::vector<OptionSpec>& options,
                      const std::vector<std::string>& assignment_keys = {});

// Value conversions that fail with a UsageError naming the option and the accepted range.
std::int64_t parse_integer(std::string_view option, std::string_view text, std::int64_t min,
                           std::int64_t max);
std::uint64_t parse_unsigned(std::string_view option, std::string_view text);
double parse_number(std::string_view option, std::string_view text);
bool parse_bool(std::string_view option, std::string_view text);
// The index of `text` among `choices` ("--scheduling: unknown value 'x' (allowed: a, b)").
std::size_t parse_choice(std::string_view option, std::string_view text,
                         std::initializer_list<std::string_view> choices);
// "S" or "S0,S1,...": non-negative integers.
std::vector<std::int64_t> parse_integer_list(std::string_view option, std::string_view text);

// The option table as help text: "  --name VALUE   help", aligned.
std::string format_options(const std::vector<OptionSpec>& options);

}  // namespace flashmoe::cli
