// config_hash, first_differing_field and describe.
#include "flashmoe/config.hpp"
#include "support/error_message.hpp"

namespace flashmoe {
namespace {

TEST(ConfigIdentity, EqualConfigsHashEqual) {
  Config a, b;
  EXPECT_EQ(config_hash(a), config_hash(b));
  a.top_k = 4;
  b.top_k = 4;
  EXPECT_EQ(config_hash(a), config_hash(b));
  EXPECT_EQ(config_hash(config_from_json(config_to_json(a))), config_hash(a));
}

TEST(ConfigIdentity, HashIsStableAcrossBuilds) {
  // Ranks built by different compilers must agree; pin the value of the defaults so any change
  // of the canonical text (and thus of cross-version compatibility) is deliberate.
  EXPECT_EQ(config_hash(Config{}), 13367070930447050455ull);
}

TEST(ConfigIdentity, EveryFieldChangesTheHash) {
  const std::vector<std::pair<std::string_view, std::string_view>> changes{
      {"hidden", "64"},
      {"ffn", "96"},
      {"experts", "32"},
      {"top_k", "4"},
      {"capacity_factor", "1.2500001"},
      {"drop_tokens", "false"},
      {"activation", "silu"},
      {"bias", "true"},
      {"normalize_weights", "false"},
      {"dtype", "bf16"},
      {"allow_tf32", "true"},
      {"max_tokens", "4097"},
      {"aux_loss", "true"},
      {"z_loss", "true"},
      {"wait_timeout_s", "61"}};
  for (const auto& [key, value] : changes) {
    Config c;
    set_config_field(c, key, value);
    EXPECT_NE(config_hash(c), config_hash(Config{})) << key;
    EXPECT_EQ(first_differing_field(Config{}, c).substr(0, key.size() + 1), std::string(key) + ":");
  }
}

TEST(ConfigIdentity, FirstDifferingFieldNamesBothValues) {
  Config a, b;
  EXPECT_EQ(first_differing_field(a, b), "");
  b.top_k = 4;
  EXPECT_EQ(first_differing_field(a, b), "top_k: 2 vs 4");
  b.ffn = 7;  // ffn is declared before top_k, so it is reported first
  EXPECT_EQ(first_differing_field(a, b), "ffn: 1024 vs 7");
  a = b = Config{};
  b.activation = Activation::swiglu;
  EXPECT_EQ(first_differing_field(a, b), "activation: gelu vs swiglu");
  a = b = Config{};
  b.capacity_factor = 1.5;
  EXPECT_EQ(first_differing_field(a, b), "capacity_factor: 1.25 vs 1.5");
}

TEST(ConfigIdentity, DescribeMentionsTheShape) {
  Config c;
  c.activation = Activation::swiglu;
  const std::string text = describe(c);
  EXPECT_TRUE(test::contains_all(
      text, {"H=1024", "E=16", "k=2", "swiglu", "w1 rows 2048", "fp32", "max_tokens 4096"}));
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace flashmoe
