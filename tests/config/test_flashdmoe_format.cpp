// The seed system's (FlashDMoE) configuration format: detection, mapping, ignored keys, codes.
#include "flashmoe/config.hpp"
#include "support/error_message.hpp"

namespace flashmoe {
namespace {

using test::contains_all;
using test::error_message;

// The seed's own example file (csrc/aristos_config.json), with 64 experts.
constexpr std::string_view kSeedFile = R"({
  "capacity_factor": 1,
  "drop_tokens": 1,
  "expert_top_k": 2,
  "global_batch": 256,
  "is_training": 0,
  "hidden_act": 0,
  "hidden_size": 1024,
  "intermediate_size": 4096,
  "mini_batch": 1,
  "moe_frequency": 1,
  "num_experts": 64,
  "num_layers": 20,
  "sequence_len": 8192,
  "torch_dtype": 1,
  "vocab_size": 32000
})";

std::string with(std::string_view key, std::string_view value) {
  return "{\"hidden_size\": 256, \"" + std::string(key) + "\": " + std::string(value) + "}";
}

TEST(FlashDMoEFormat, MapsTheSeedFile) {
  const LoadedConfig loaded = parse_config_text(kSeedFile, "seed.json");
  EXPECT_TRUE(loaded.flashdmoe_format);
  const Config& c = loaded.config;
  EXPECT_EQ(c.hidden, 1024);
  EXPECT_EQ(c.ffn, 4096);
  EXPECT_EQ(c.experts, 64);
  EXPECT_EQ(c.top_k, 2);
  EXPECT_EQ(c.capacity_factor, 1.0);
  EXPECT_TRUE(c.drop_tokens);
  EXPECT_EQ(c.activation, Activation::relu);
  EXPECT_EQ(c.dtype, DType::fp32);
  EXPECT_TRUE(c.allow_tf32);  // torch_dtype 1 = tf32
  EXPECT_EQ(c.max_tokens, 8192);
  ASSERT_TRUE(loaded.tokens_per_rank.has_value());
  EXPECT_EQ(*loaded.tokens_per_rank, 8192);
  ASSERT_TRUE(loaded.backward.has_value());
  EXPECT_FALSE(*loaded.backward);
  EXPECT_EQ(loaded.ignored_keys, (std::vector<std::string>{"global_batch", "moe_frequency",
                                                           "num_layers", "vocab_size"}));
  // Fields the format does not carry keep flashmoe's defaults.
  EXPECT_EQ(c.bias, Config{}.bias);
  EXPECT_EQ(c.normalize_weights, Config{}.normalize_weights);
}

TEST(FlashDMoEFormat, MapsEveryTorchDtypeCode) {
  const auto dtype_of = [](std::string_view code) {
    return parse_config_text(with("torch_dtype", code), "t.json").config;
  };
  EXPECT_EQ(dtype_of("0").dtype, DType::fp32);
  EXPECT_FALSE(dtype_of("0").allow_tf32);
  EXPECT_EQ(dtype_of("1").dtype, DType::fp32);
  EXPECT_TRUE(dtype_of("1").allow_tf32);
  EXPECT_EQ(dtype_of("2").dtype, DType::bf16);
  EXPECT_EQ(dtype_of("3").dtype, DType::fp16);
  EXPECT_FALSE(dtype_of("3").allow_tf32);
}

TEST(FlashDMoEFormat, MapsHiddenActCodes) {
  EXPECT_EQ(parse_config_text(with("hidden_act", "0"), "a").config.activation, Activation::relu);
  EXPECT_EQ(parse_config_text(with("hidden_act", "1"), "a").config.activation, Activation::gelu);
}

TEST(FlashDMoEFormat, RefusesOutOfRangeCodesListingTheAllowedOnes) {
  EXPECT_TRUE(contains_all(error_message([] { parse_config_text(with("hidden_act", "2"), "a"); }),
                           {"'hidden_act'", "2", "0 (relu), 1 (gelu)"}));
  EXPECT_TRUE(contains_all(error_message([] { parse_config_text(with("torch_dtype", "4"), "a"); }),
                           {"'torch_dtype'", "4", "0 (fp32), 1 (tf32), 2 (bf16), 3 (fp16)"}));
  EXPECT_TRUE(contains_all(error_message([] { parse_config_text(with("torch_dtype", "-1"), "a"); }),
                           {"'torch_dtype'", "-1"}));
  EXPECT_TRUE(
      contains_all(error_message([] { parse_config_text(with("hidden_act", "\"gelu\""), "a"); }),
                   {"'hidden_act'", "\"gelu\"", "a string"}));
}

TEST(FlashDMoEFormat, AcceptsFlagsAsIntegersOrBooleans) {
  EXPECT_FALSE(parse_config_text(with("drop_tokens", "0"), "a").config.drop_tokens);
  EXPECT_FALSE(parse_config_text(with("drop_tokens", "false"), "a").config.drop_tokens);
  EXPECT_TRUE(*parse_config_text(with("is_training", "1"), "a").backward);
  EXPECT_TRUE(*parse_config_text(with("is_training", "true"), "a").backward);
  EXPECT_TRUE(contains_all(error_message([] { parse_config_text(with("drop_tokens", "2"), "a"); }),
                           {"'drop_tokens'", "2", "0 or 1"}));
}

TEST(FlashDMoEFormat, AcceptsFractionalCapacityFactor) {
  EXPECT_EQ(parse_config_text(with("capacity_factor", "1.25"), "a").config.capacity_factor, 1.25);
}

TEST(FlashDMoEFormat, TokensPerRankIsSequenceLenTimesMiniBatch) {
  const LoadedConfig loaded =
      parse_config_text(R"({"hidden_size": 64, "sequence_len": 128, "mini_batch": 4})", "a");
  EXPECT_EQ(*loaded.tokens_per_rank, 512);
  EXPECT_EQ(loaded.config.max_tokens, 512);
  EXPECT_FALSE(loaded.backward.has_value());
  EXPECT_FALSE(parse_config_text(with("num_experts", "8"), "a").tokens_per_rank.has_value());
  EXPECT_TRUE(contains_all(error_message([] { parse_config_text(with("mini_batch", "2"), "a"); }),
                           {"'mini_batch'", "'sequence_len'"}));
  EXPECT_TRUE(
      contains_all(error_message([] {
                     parse_config_text(
                         R"({"hidden_size": 64, "sequence_len": 65536, "mini_batch": 65536})", "a");
                   }),
                   {"'mini_batch'", "65536", "2147483647"}));
}

TEST(FlashDMoEFormat, IgnoredKeysAreNeverAnErrorWhateverTheirType) {
  const LoadedConfig loaded =
      parse_config_text(R"({"hidden_size": 64, "vocab_size": "large", "num_layers": [1, 2]})", "a");
  EXPECT_EQ(loaded.ignored_keys, (std::vector<std::string>{"num_layers", "vocab_size"}));
}

TEST(FlashDMoEFormat, RefusesUnknownKeysWithTheNearestSeedKey) {
  EXPECT_TRUE(contains_all(error_message([] { parse_config_text(with("num_expert", "8"), "a"); }),
                           {"unknown key 'num_expert'", "did you mean 'num_experts'?"}));
}

TEST(FlashDMoEFormat, RefusesMixedFormats) {
  EXPECT_TRUE(contains_all(error_message([] { parse_config_text(with("top_k", "2"), "m.json"); }),
                           {"'top_k'", "m.json", "flashmoe key", "FlashDMoE", "hidden_size"}));
}

TEST(FlashDMoEFormat, ValidationNamesTheSeedKeys) {
  EXPECT_TRUE(contains_all(error_message([] {
                             parse_config_text(R"({"num_experts": 4, "expert_top_k": 8})",
                                               "v.json");
                           }),
                           {"v.json", "expert_top_k → top_k", "top_k (k) = 8"}));
}

TEST(FlashDMoEFormat, FlashmoeFormatIsNotMistakenForIt) {
  const LoadedConfig loaded = parse_config_text(R"({"hidden": 64, "top_k": 1})", "f.json");
  EXPECT_FALSE(loaded.flashdmoe_format);
  EXPECT_FALSE(loaded.tokens_per_rank.has_value());
  EXPECT_FALSE(loaded.backward.has_value());
  EXPECT_TRUE(loaded.ignored_keys.empty());
  EXPECT_EQ(loaded.config.hidden, 64);
}

}  // namespace
}  // namespace flashmoe
