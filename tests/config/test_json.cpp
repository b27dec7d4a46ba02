// flashmoe's JSON format: round trip, strict types, unknown keys, malformed text.
#include <nlohmann/json.hpp>

#include <string>

#include "flashmoe/config.hpp"
#include "support/error_message.hpp"

namespace flashmoe {
namespace {

using test::contains_all;
using test::error_message;

Config unusual_config() {
  Config c;
  c.hidden = 96;
  c.ffn = 160;
  c.experts = 12;
  c.top_k = 3;
  c.capacity_factor = 0.1;  // not exactly representable: the round trip must keep every bit
  c.drop_tokens = false;
  c.activation = Activation::geglu;
  c.bias = true;
  c.normalize_weights = false;
  c.dtype = DType::fp16;
  c.max_tokens = 77;
  c.aux_loss = true;
  c.z_loss = true;
  c.wait_timeout_s = 2.5;
  return c;
}

// allow_tf32 is valid with fp32 only, so it gets a configuration of its own.
Config unusual_tf32_config() {
  Config c = unusual_config();
  c.dtype = DType::fp32;
  c.allow_tf32 = true;
  return c;
}

// The round trip below proves something about a field only where an unusual configuration
// differs from the default; so one of them must differ in every key (a field added later fails
// here until it does).
TEST(ConfigJson, UnusualConfigsDifferFromTheDefaultInEveryField) {
  const auto defaults = nlohmann::json::parse(config_to_json(Config{}));
  const auto unusual = nlohmann::json::parse(config_to_json(unusual_config()));
  const auto tf32 = nlohmann::json::parse(config_to_json(unusual_tf32_config()));
  for (std::string_view key : config_keys()) {
    const std::string name(key);
    ASSERT_TRUE(defaults.contains(name)) << name;
    EXPECT_TRUE(unusual[name] != defaults[name] || tf32[name] != defaults[name])
        << name << " keeps its default in both unusual configurations";
  }
}

TEST(ConfigJson, RoundTripKeepsEveryField) {
  for (const Config& c : {Config{}, unusual_config(), unusual_tf32_config()}) {
    EXPECT_EQ(config_from_json(config_to_json(c)), c);
  }
}

TEST(ConfigJson, WritesEveryKeyInDeclarationOrder) {
  const std::string text = config_to_json(Config{});
  std::size_t previous = 0;
  for (std::string_view key : config_keys()) {
    const std::size_t at = text.find(detail::concat('"', key, "\":"));
    ASSERT_NE(at, std::string::npos) << key;
    EXPECT_GT(at, previous) << key << " out of order";
    previous = at;
  }
  EXPECT_NE(text.find("\"activation\": \"gelu\""), std::string::npos) << text;
  EXPECT_NE(text.find("\n  \"hidden\": 1024"), std::string::npos) << "not pretty-printed";
}

TEST(ConfigJson, MissingKeysKeepTheirDefaults) {
  const Config c = config_from_json(R"({"top_k": 4, "activation": "swiglu"})");
  Config expected;
  expected.top_k = 4;
  expected.activation = Activation::swiglu;
  EXPECT_EQ(c, expected);
  EXPECT_EQ(config_from_json("{}"), Config{});
}

TEST(ConfigJson, AcceptsIntegerForADoubleField) {
  EXPECT_EQ(config_from_json(R"({"capacity_factor": 2})").capacity_factor, 2.0);
}

TEST(ConfigJson, RefusesUnknownKeyWithSuggestion) {
  EXPECT_TRUE(contains_all(error_message([] { config_from_json(R"({"topk": 2})", "a.json"); }),
                           {"unknown key 'topk' in a.json; did you mean 'top_k'?"}));
}

TEST(ConfigJson, RefusesWrongTypesNamingKeyValueAndType) {
  EXPECT_TRUE(contains_all(error_message([] { config_from_json(R"({"top_k": "2"})", "a.json"); }),
                           {"a.json", "'top_k'", "\"2\"", "a string", "expected an integer"}));
  EXPECT_TRUE(contains_all(error_message([] { config_from_json(R"({"top_k": 2.5})"); }),
                           {"'top_k'", "2.5", "expected an integer"}));
  EXPECT_TRUE(contains_all(error_message([] { config_from_json(R"({"bias": 1})"); }),
                           {"'bias'", "1", "an integer", "expected true or false"}));
  EXPECT_TRUE(
      contains_all(error_message([] { config_from_json(R"({"capacity_factor": "1.25"})"); }),
                   {"'capacity_factor'", "\"1.25\"", "expected a number"}));
  EXPECT_TRUE(contains_all(error_message([] { config_from_json(R"({"dtype": 2})"); }),
                           {"'dtype'", "2", "fp32"}));
  EXPECT_TRUE(contains_all(error_message([] { config_from_json(R"({"hidden": null})"); }),
                           {"'hidden'", "null"}));
  EXPECT_TRUE(
      contains_all(error_message([] { config_from_json(R"({"hidden": 18446744073709551615})"); }),
                   {"'hidden'", "18446744073709551615", "64 bits"}));
}

TEST(ConfigJson, RefusesUnknownEnumNames) {
  EXPECT_TRUE(contains_all(
      error_message([] { config_from_json(R"({"activation": "swish"})"); }),
      {"'activation'", "\"swish\"", "relu, gelu, gelu_tanh, silu, identity, swiglu, geglu"}));
}

TEST(ConfigJson, ReportsMalformedJsonWithLineAndColumn) {
  // Line 3 lacks its comma after 2, so the parser stops after reading the string "bias": the
  // position is that of its closing quote (line 4, column 8), the last character read.
  const std::string text = "{\n  \"hidden\": 64,\n  \"top_k\": 2\n  \"bias\": true\n}\n";
  EXPECT_TRUE(contains_all(error_message([&] { config_from_json(text, "bad.json"); }),
                           {"malformed JSON in bad.json at line 4, column 8"}));
}

TEST(ConfigJson, ReportsTruncatedJson) {
  EXPECT_TRUE(contains_all(error_message([] { config_from_json("{\"hidden\": 64,", "cut.json"); }),
                           {"malformed JSON in cut.json at line 1"}));
  EXPECT_TRUE(contains_all(error_message([] { config_from_json("", "empty.json"); }),
                           {"malformed JSON in empty.json at line 1, column 1"}));
}

TEST(ConfigJson, RefusesANonObjectDocument) {
  EXPECT_TRUE(contains_all(error_message([] { config_from_json("[1, 2]", "list.json"); }),
                           {"list.json", "JSON object", "an array"}));
}

TEST(ConfigJson, RefusesDuplicateKeys) {
  EXPECT_TRUE(contains_all(
      error_message([] { config_from_json(R"({"top_k": 2, "top_k": 4})", "dup.json"); }),
      {"duplicate key 'top_k' in dup.json"}));
}

}  // namespace
}  // namespace flashmoe
