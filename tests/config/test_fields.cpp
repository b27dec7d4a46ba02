// config_keys() and set_config_field(): the command-line override path (`--top_k 2`).
#include <algorithm>

#include "flashmoe/config.hpp"
#include "support/error_message.hpp"

namespace flashmoe {
namespace {

using test::contains_all;
using test::error_message;

TEST(ConfigFields, KeysAreTheFieldsInDeclarationOrder) {
  const std::vector<std::string_view> expected{
      "hidden",     "ffn",    "experts",           "top_k", "capacity_factor", "drop_tokens",
      "activation", "bias",   "normalize_weights", "dtype", "allow_tf32",      "max_tokens",
      "aux_loss",   "z_loss", "wait_timeout_s"};
  EXPECT_EQ(config_keys(), expected);
}

TEST(ConfigFields, EveryKeyCanBeSetFromText) {
  // One non-default value per key; each must change the config.
  const std::vector<std::pair<std::string_view, std::string_view>> values{
      {"hidden", "64"},
      {"ffn", "96"},
      {"experts", "32"},
      {"top_k", "4"},
      {"capacity_factor", "2.5"},
      {"drop_tokens", "false"},
      {"activation", "swiglu"},
      {"bias", "true"},
      {"normalize_weights", "off"},
      {"dtype", "bf16"},
      {"allow_tf32", "on"},
      {"max_tokens", "100"},
      {"aux_loss", "1"},
      {"z_loss", "yes"},
      {"wait_timeout_s", "5"}};
  ASSERT_EQ(values.size(), config_keys().size());
  for (const auto& [key, value] : values) {
    Config c;
    set_config_field(c, key, value);
    EXPECT_NE(c, Config{}) << key << " = " << value << " changed nothing";
  }
}

TEST(ConfigFields, ParsesIntegers) {
  Config c;
  set_config_field(c, "top_k", "3");
  EXPECT_EQ(c.top_k, 3);
  set_config_field(c, "hidden", "+128");
  EXPECT_EQ(c.hidden, 128);
  set_config_field(c, "ffn", "-4");  // parsed; validate() refuses it later
  EXPECT_EQ(c.ffn, -4);
}

TEST(ConfigFields, RefusesBadIntegers) {
  Config c;
  for (std::string_view bad : {"two", "2x", "2.5", "", "99999999999999999999"}) {
    EXPECT_TRUE(contains_all(error_message([&] { set_config_field(c, "top_k", bad); }),
                             {"top_k", detail::concat("'", bad, "'"), "an integer"}));
  }
  EXPECT_EQ(c.top_k, Config{}.top_k);  // a refused value leaves the field unchanged
}

TEST(ConfigFields, ParsesDoubles) {
  Config c;
  set_config_field(c, "capacity_factor", "1.5");
  EXPECT_EQ(c.capacity_factor, 1.5);
  set_config_field(c, "capacity_factor", "2");
  EXPECT_EQ(c.capacity_factor, 2.0);
  set_config_field(c, "wait_timeout_s", "1e-3");
  EXPECT_EQ(c.wait_timeout_s, 1e-3);
}

TEST(ConfigFields, RefusesBadDoubles) {
  Config c;
  EXPECT_TRUE(contains_all(error_message([&] { set_config_field(c, "capacity_factor", "1,5"); }),
                           {"capacity_factor", "'1,5'", "a number"}));
}

TEST(ConfigFields, ParsesBooleans) {
  Config c;
  for (std::string_view yes : {"true", "1", "on", "yes", "True", "ON"}) {
    c.bias = false;
    set_config_field(c, "bias", yes);
    EXPECT_TRUE(c.bias) << yes;
  }
  for (std::string_view no : {"false", "0", "off", "no", "FALSE"}) {
    c.bias = true;
    set_config_field(c, "bias", no);
    EXPECT_FALSE(c.bias) << no;
  }
}

TEST(ConfigFields, RefusesBadBooleans) {
  Config c;
  EXPECT_TRUE(contains_all(error_message([&] { set_config_field(c, "bias", "maybe"); }),
                           {"bias", "'maybe'", "true or false"}));
}

TEST(ConfigFields, ParsesEnumsByName) {
  Config c;
  set_config_field(c, "activation", "gelu_tanh");
  EXPECT_EQ(c.activation, Activation::gelu_tanh);
  set_config_field(c, "dtype", "fp16");
  EXPECT_EQ(c.dtype, DType::fp16);
}

TEST(ConfigFields, RefusesUnknownEnumNamesListingTheAllowedOnes) {
  Config c;
  EXPECT_TRUE(contains_all(error_message([&] { set_config_field(c, "activation", "swish"); }),
                           {"activation", "'swish'", "relu", "swiglu", "geglu"}));
  EXPECT_TRUE(contains_all(error_message([&] { set_config_field(c, "dtype", "float32"); }),
                           {"dtype", "'float32'", "fp32", "bf16"}));
}

TEST(ConfigFields, SuggestsTheNearestKeyForAnUnknownOne) {
  Config c;
  EXPECT_TRUE(contains_all(error_message([&] { set_config_field(c, "topk", "2"); }),
                           {"unknown key 'topk'", "did you mean 'top_k'?"}));
  EXPECT_TRUE(contains_all(error_message([&] { set_config_field(c, "expert", "8"); }),
                           {"did you mean 'experts'?"}));
}

TEST(ConfigFields, ListsEveryKeyWhenNoneIsClose) {
  Config c;
  EXPECT_TRUE(contains_all(
      error_message([&] { set_config_field(c, "learning_rate", "0.1"); }),
      {"unknown key 'learning_rate'", "valid keys are hidden, ffn", "wait_timeout_s"}));
}

}  // namespace
}  // namespace flashmoe
