// JSON text built to break a reader: deep nesting, NUL bytes, repeated keys, numbers beyond
// any range, huge values quoted in messages. Each is refused with the source, the line and,
// where there is one, the key; nothing crashes or is silently accepted.
#include <string>

#include "config/json_document.hpp"
#include "flashmoe/config.hpp"
#include "support/error_message.hpp"

namespace flashmoe {
namespace {

using config_detail::kMaxJsonDepth;
using config_detail::parse_json_object;
using test::contains_all;
using test::error_message;

std::string parse_error(const std::string& text) {
  return error_message([&] { parse_json_object(text, "f.json"); });
}

std::string nested(int depth, char open, char close, const std::string& inner) {
  return std::string(static_cast<std::size_t>(depth), open) + inner +
         std::string(static_cast<std::size_t>(depth), close);
}

TEST(HostileJson, DeepArraysAndObjectsAreRefusedNotRecursedInto) {
  // 10^5 levels: rendering or destroying such a value recursively overflows the stack.
  const std::string arrays = "{\"hidden\": " + nested(100'000, '[', ']', "1") + "}";
  EXPECT_TRUE(contains_all(parse_error(arrays),
                           {"f.json at line 1", "key 'hidden'", "nested more than 64 levels"}));
  std::string objects = "{\"hidden\": ";
  for (int i = 0; i < 100'000; ++i) objects += "{\"a\": ";
  objects += "1" + std::string(100'001, '}');
  EXPECT_TRUE(contains_all(parse_error(objects), {"key 'a'", "nested more than 64 levels"}));
}

TEST(HostileJson, NestingUpToTheCapIsAccepted) {
  // The top-level object is level 1, so kMaxJsonDepth - 1 arrays inside it are still allowed.
  const std::string text = "{\"a\": " + nested(kMaxJsonDepth - 1, '[', ']', "") + "}";
  EXPECT_NO_THROW(parse_json_object(text, "f.json"));
  const std::string deeper = "{\"a\": " + nested(kMaxJsonDepth, '[', ']', "") + "}";
  EXPECT_TRUE(contains_all(parse_error(deeper), {"nested more than 64 levels"}));
}

TEST(HostileJson, ANulByteIsRefusedWithItsPosition) {
  // nlohmann reads a NUL as the end of the input: the keys after it would be ignored.
  const std::string text = std::string("{\"hidden\": 16}\n\0{\"hidden\": 32, \"bogus\": 1}", 43);
  EXPECT_TRUE(contains_all(parse_error(text), {"f.json at line 2, column 1 (byte 15)", "NUL"}));
}

TEST(HostileJson, ADuplicateKeyIsRefusedWithItsLine) {
  EXPECT_TRUE(contains_all(parse_error("{\"hidden\": 8,\n \"hidden\": 16}"),
                           {"duplicate key 'hidden' in f.json at line 2"}));
  // In a nested object too: each object has its own keys.
  EXPECT_TRUE(contains_all(parse_error("{\"a\": {\"b\": 1, \"b\": 2}}"), {"duplicate key 'b'"}));
  EXPECT_NO_THROW(parse_json_object("{\"a\": {\"b\": 1}, \"c\": {\"b\": 2}}", "f.json"));
}

TEST(HostileJson, ANumberBeyondADoubleNamesLineAndKey) {
  EXPECT_TRUE(contains_all(
      parse_error("{\"top_k\": 2,\n \"capacity_factor\": 1e400}"),
      {"f.json at line 2", "key 'capacity_factor'", "the number 1e400", "out of range"}));
  EXPECT_TRUE(contains_all(parse_error("{\"a\": [1, -1e999]}"), {"key 'a'", "-1e999"}));
}

TEST(HostileJson, AnIntegerBeyond64BitsIsNotTurnedIntoADouble) {
  EXPECT_TRUE(contains_all(
      parse_error("{\"hidden\": 18446744073709551616}"),
      {"f.json at line 1", "key 'hidden'", "the integer 18446744073709551616", "out of range"}));
  EXPECT_TRUE(contains_all(parse_error("{\"hidden\": -9223372036854775809}"),
                           {"the integer -9223372036854775809"}));
  // The largest integers nlohmann holds exactly still parse; a double literal stays a double.
  EXPECT_NO_THROW(
      parse_json_object("{\"a\": 18446744073709551615, \"b\": -9223372036854775808, "
                        "\"c\": 1.8e19}",
                        "f.json"));
}

TEST(HostileJson, QuotedValuesAndKeysAreShort) {
  const std::string long_text(100'000, 'x');
  const std::string wrong_type =
      error_message([&] { config_from_json("{\"hidden\": \"" + long_text + "\"}", "f.json"); });
  EXPECT_TRUE(contains_all(wrong_type, {"key 'hidden'", "…", "expected an integer"}));
  EXPECT_LT(wrong_type.size(), 200u) << wrong_type;
  const std::string unknown =
      error_message([&] { config_from_json("{\"" + long_text + "\": 1}", "f.json"); });
  EXPECT_TRUE(contains_all(unknown, {"unknown key 'xxxx", "…"}));
  EXPECT_LT(unknown.size(), 1000u);
  Config config;
  const std::string override_text =
      error_message([&] { set_config_field(config, "hidden", long_text); });
  EXPECT_LT(override_text.size(), 200u) << override_text;
}

TEST(HostileJson, TheFlashDMoEFormatIsReadTheSameWay) {
  EXPECT_TRUE(contains_all(error_message([] {
                             parse_config_text("{\"hidden_size\": 8, \"hidden_size\": 16}",
                                               "s.json");
                           }),
                           {"duplicate key 'hidden_size' in s.json at line 1"}));
  EXPECT_TRUE(contains_all(
      error_message([] { parse_config_text("{\"hidden_size\": 99999999999999999999}", "s.json"); }),
      {"key 'hidden_size'", "out of range"}));
}

}  // namespace
}  // namespace flashmoe
