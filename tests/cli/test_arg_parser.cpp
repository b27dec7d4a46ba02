// The command-line parser: accepted forms, refusals with suggestions, value conversions.
#include <gtest/gtest.h>

#include "cli/arg_parser.hpp"
#include "cli/backends.hpp"
#include "cli/suggest.hpp"
#include "cli/usage_error.hpp"

namespace flashmoe::cli {
namespace {

using Kind = OptionSpec::Kind;

const std::vector<OptionSpec>& specs() {
  static const std::vector<OptionSpec> options{{"hidden", Kind::value, "N", ""},
                                               {"top_k", Kind::value, "K", ""},
                                               {"check", Kind::flag, "", ""},
                                               {"bias", Kind::flag, "", ""}};
  return options;
}

std::string usage_error(const Args& args, const std::vector<std::string>& keys = {}) {
  try {
    parse_args(args, specs(), keys);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ArgParser, AcceptsEveryForm) {
  const ParsedArgs p =
      parse_args({"--hidden", "32", "--top_k=2", "--check", "--bias", "false", "hidden=64"},
                 specs(), {"hidden", "top_k"});
  EXPECT_EQ(p.value("top_k"), "2");
  EXPECT_EQ(p.value("hidden"), "64");  // the later setting wins
  EXPECT_TRUE(p.flag("check"));
  EXPECT_FALSE(p.flag("bias"));
  EXPECT_TRUE(p.has("bias"));
  ASSERT_EQ(p.options.size(), 5u);
  EXPECT_TRUE(p.options.back().assignment);
  EXPECT_FALSE(p.help);
  EXPECT_TRUE(parse_args({"-h"}, specs()).help);
  EXPECT_EQ(parse_args({"--check=no"}, specs()).value("check"), "false");
}

TEST(ArgParser, RefusesWithClearMessages) {
  EXPECT_EQ(usage_error({"--hiden", "3"}), "unknown option '--hiden'; did you mean '--hidden'?");
  EXPECT_EQ(usage_error({"--top-k", "3"}), "unknown option '--top-k'; did you mean '--top_k'?");
  EXPECT_EQ(usage_error({"--zzzzzz"}), "unknown option '--zzzzzz'");
  EXPECT_NE(usage_error({"--hidden"}).find("needs a value"), std::string::npos);
  EXPECT_NE(usage_error({"extra"}).find("unexpected argument 'extra'"), std::string::npos);
  EXPECT_NE(usage_error({"hiden=3"}, {"hidden"}).find("did you mean 'hidden'"), std::string::npos);
  EXPECT_NE(usage_error({"hidden=3"}).find("takes no key=value"), std::string::npos);
  EXPECT_NE(usage_error({"--check=maybe"}).find("expected true or false"), std::string::npos);
  EXPECT_NE(usage_error({"-x"}).find("unknown option '-x'"), std::string::npos);
}

TEST(ArgParser, ValueConversions) {
  EXPECT_EQ(parse_integer("--ranks", "4", 1, 8), 4);
  EXPECT_THROW(parse_integer("--ranks", "9", 1, 8), UsageError);
  EXPECT_THROW(parse_integer("--ranks", "4x", 1, 8), UsageError);
  EXPECT_THROW(parse_integer("--ranks", "", 1, 8), UsageError);
  EXPECT_EQ(parse_unsigned("--seed", "18446744073709551615"), 18446744073709551615ull);
  EXPECT_THROW(parse_unsigned("--seed", "-1"), UsageError);
  EXPECT_DOUBLE_EQ(parse_number("--d_aux", "-1.5e-2"), -0.015);
  EXPECT_THROW(parse_number("--d_aux", "nan"), UsageError);
  EXPECT_THROW(parse_number("--d_aux", "1.0x"), UsageError);
  EXPECT_EQ(parse_integer_list("--tokens", "3,0,7"), (std::vector<std::int64_t>{3, 0, 7}));
  EXPECT_THROW(parse_integer_list("--tokens", "3,,7"), UsageError);
  EXPECT_THROW(parse_integer_list("--tokens", "-3"), UsageError);
}

TEST(Suggest, FindsPlausibleTyposOnly) {
  const std::vector<std::string> words{"hidden", "capacity_factor", "experts", "run"};
  EXPECT_EQ(nearest("hiden", words), "hidden");
  EXPECT_EQ(nearest("capacity-factor", words), "capacity_factor");
  EXPECT_EQ(nearest("exp", words), "experts");
  EXPECT_EQ(nearest("bench", words), std::nullopt);
}

TEST(Backends, DefaultIsTheFirstAndUnknownNamesListTheAvailable) {
  ASSERT_FALSE(backends().empty());
  EXPECT_EQ(&default_backend(), &backends().front());
  EXPECT_EQ(backends().back().name, "reference");
  EXPECT_EQ(find_backend("reference").name, "reference");
  EXPECT_EQ(backends().back().supports, nullptr);  // the reference runs every configuration
  for (DType dtype : {DType::fp64, DType::fp32, DType::bf16, DType::fp16}) {
    Config c;
    c.dtype = dtype;
    const Backend& chosen = default_backend_for(c);
    EXPECT_TRUE(chosen.supports == nullptr || chosen.supports(c)) << chosen.name;
  }
  try {
    find_backend("refrence");
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'reference'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("available: "), std::string::npos);
  }
}

}  // namespace
}  // namespace flashmoe::cli
