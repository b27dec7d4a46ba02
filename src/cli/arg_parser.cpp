#include "cli/arg_parser.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <sstream>

#include "cli/suggest.hpp"
#include "cli/usage_error.hpp"

namespace flashmoe::cli {
namespace {

const OptionSpec* find(const std::vector<OptionSpec>& options, std::string_view name) {
  for (const OptionSpec& spec : options)
    if (spec.name == name) return &spec;
  return nullptr;
}

bool is_bool_word(std::string_view text) {
  return text == "true" || text == "false" || text == "on" || text == "off" || text == "yes" ||
         text == "no";
}

// Built by appending: GCC 12 reports a false -Wrestrict for "'" + std::string(text) + "'".
std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out.append(text);
  out += '\'';
  return out;
}

}  // namespace

bool ParsedArgs::has(std::string_view name) const {
  return std::any_of(options.begin(), options.end(),
                     [&](const ParsedOption& o) { return o.name == name; });
}

std::optional<std::string> ParsedArgs::value(std::string_view name) const {
  for (auto it = options.rbegin(); it != options.rend(); ++it)
    if (it->name == name) return it->value;
  return std::nullopt;
}

bool ParsedArgs::flag(std::string_view name) const {
  const auto v = value(name);
  return v && *v == "true";
}

ParsedArgs parse_args(const Args& args, const std::vector<OptionSpec>& options,
                      const std::vector<std::string>& assignment_keys) {
  std::vector<std::string> names;
  for (const OptionSpec& spec : options) names.push_back(spec.name);

  ParsedArgs parsed;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      const std::size_t eq = arg.find('=');
      if (eq != std::string::npos && eq > 0 && !arg.starts_with("-")) {
        const std::string key = arg.substr(0, eq);
        if (assignment_keys.empty())
          throw UsageError("unexpected argument " + quoted(arg) +
                           " (this command takes no key=value settings)");
        if (std::find(assignment_keys.begin(), assignment_keys.end(), key) == assignment_keys.end())
          throw UsageError("unknown configuration key " + quoted(key) + " in " + quoted(arg) +
                           did_you_mean(key, assignment_keys));
        parsed.options.push_back({key, arg.substr(eq + 1), true});
        continue;
      }
      if (arg.starts_with("-") && arg.size() > 1)
        throw UsageError("unknown option " + quoted(arg) + " (options are written --name)" +
                         did_you_mean(arg.substr(arg.find_first_not_of('-')), names, "--"));
      throw UsageError("unexpected argument " + quoted(arg) +
                       (assignment_keys.empty()
                            ? std::string(" (this command takes only --options)")
                            : std::string(" (options start with --; configuration overrides "
                                          "are written key=value)")));
    }

    const std::string body = arg.substr(2);
    const std::size_t eq = body.find('=');
    const std::string name = body.substr(0, eq);
    const OptionSpec* spec = find(options, name);
    if (spec == nullptr) {
      if (name.empty()) throw UsageError("unexpected argument '--'");
      throw UsageError("unknown option " + quoted("--" + name) + did_you_mean(name, names, "--"));
    }
    std::string value;
    if (eq != std::string::npos) {
      value = body.substr(eq + 1);
      if (spec->kind == OptionSpec::Kind::flag)
        value = parse_bool("--" + name, value) ? "true" : "false";
    } else if (spec->kind == OptionSpec::Kind::flag) {
      value = "true";
      // `--bias false` reads naturally next to `--hidden 32`; only boolean words are taken
      // (not 1/0, which could be a mistyped positional number).
      if (i + 1 < args.size() && is_bool_word(args[i + 1]))
        value = parse_bool("--" + name, args[++i]) ? "true" : "false";
    } else {
      if (i + 1 >= args.size())
        throw UsageError("option --" + name + " needs a value (--" + name + " " + spec->value_name +
                         ")");
      value = args[++i];
    }
    parsed.options.push_back({name, value, false});
  }
  return parsed;
}

std::size_t parse_choice(std::string_view option, std::string_view text,
                         std::initializer_list<std::string_view> choices) {
  std::size_t index = 0;
  std::string allowed;
  for (std::string_view choice : choices) {
    if (choice == text) return index;
    allowed += (index++ == 0 ? "" : ", ") + std::string(choice);
  }
  throw UsageError(std::string(option) + ": unknown value " + quoted(text) +
                   " (allowed: " + allowed + ")");
}

std::int64_t parse_integer(std::string_view option, std::string_view text, std::int64_t min,
                           std::int64_t max) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    std::ostringstream out;
    out << option << ": expected an integer in [" << min << ", " << max << "], got "
        << quoted(text);
    throw UsageError(out.str());
  }
  return value;
}

std::uint64_t parse_unsigned(std::string_view option, std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    throw UsageError(std::string(option) + ": expected a non-negative integer, got " +
                     quoted(text));
  return value;
}

double parse_number(std::string_view option, std::string_view text) {
  // strtod rather than from_chars<double>: it is available on every standard library we build with.
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || errno == ERANGE || !std::isfinite(value))
    throw UsageError(std::string(option) + ": expected a finite number, got " + quoted(text));
  return value;
}

bool parse_bool(std::string_view option, std::string_view text) {
  if (text == "true" || text == "1" || text == "on" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "off" || text == "no") return false;
  throw UsageError(std::string(option) + ": expected true or false (or 1/0, on/off, yes/no), got " +
                   quoted(text));
}

std::vector<std::int64_t> parse_integer_list(std::string_view option, std::string_view text) {
  std::vector<std::int64_t> values;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    values.push_back(parse_integer(option, item, 0, std::int64_t{1} << 40));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return values;
}

std::string format_options(const std::vector<OptionSpec>& options) {
  // Every command also takes -h/--help; it is listed last, aligned with the rest.
  std::vector<std::pair<std::string, std::string>> rows;
  for (const OptionSpec& spec : options)
    rows.emplace_back("  --" + spec.name + (spec.value_name.empty() ? "" : " " + spec.value_name),
                      spec.help);
  rows.emplace_back("  -h, --help", "print this help");
  std::size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  std::string text;
  for (const auto& [head, help] : rows) {
    text += head;
    text.append(width + 2 - head.size(), ' ');
    // Continuation lines of a long help text line up under its first line.
    for (char c : help) {
      text += c;
      if (c == '\n') text.append(width + 2, ' ');
    }
    text += '\n';
  }
  return text;
}

}  // namespace flashmoe::cli
