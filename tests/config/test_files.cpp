// Configuration files: every shipped example loads and validates; bad paths are named.
#include <filesystem>
#include <fstream>

#include "flashmoe/config.hpp"
#include "support/error_message.hpp"

namespace flashmoe {
namespace {

using test::contains_all;
using test::error_message;

const std::filesystem::path kExamples = std::filesystem::path(FLASHMOE_SOURCE_DIR) / "examples";

LoadedConfig load_example(std::string_view name) {
  return load_config_file((kExamples / name).string());
}

TEST(ConfigFiles, EveryExampleLoadsAndValidates) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kExamples)) {
    if (entry.path().extension() != ".json") continue;
    ++count;
    SCOPED_TRACE(entry.path().string());
    LoadedConfig loaded;
    ASSERT_NO_THROW(loaded = load_config_file(entry.path().string()));
    EXPECT_NO_THROW(validate(loaded.config, 1));
  }
  EXPECT_GE(count, 4);
}

TEST(ConfigFiles, FlashDMoEExample) {
  const LoadedConfig loaded = load_example("flashdmoe_config.json");
  EXPECT_TRUE(loaded.flashdmoe_format);
  EXPECT_EQ(loaded.config.hidden, 2048);
  EXPECT_EQ(loaded.config.ffn, 2048);
  EXPECT_EQ(loaded.config.experts, 64);
  EXPECT_EQ(loaded.config.top_k, 2);
  EXPECT_EQ(loaded.tokens_per_rank, 8192);
  EXPECT_FALSE(loaded.ignored_keys.empty());
}

TEST(ConfigFiles, MixtralLikeExample) {
  const Config c = load_example("mixtral_like.json").config;
  EXPECT_EQ(c.hidden, 4096);
  EXPECT_EQ(c.ffn, 14336);
  EXPECT_EQ(c.experts, 8);
  EXPECT_EQ(c.top_k, 2);
  EXPECT_EQ(c.activation, Activation::swiglu);
  EXPECT_FALSE(c.bias);
  EXPECT_NO_THROW(validate(c, 8));
}

TEST(ConfigFiles, DeepSeekLikeExample) {
  const Config c = load_example("deepseek_like.json").config;
  EXPECT_EQ(c.experts, 64);
  EXPECT_EQ(c.top_k, 6);
  EXPECT_EQ(c.activation, Activation::swiglu);
  EXPECT_FALSE(c.bias);
  EXPECT_NO_THROW(validate(c, 8));
}

TEST(ConfigFiles, SmallExampleIsSmall) {
  const Config c = load_example("small.json").config;
  EXPECT_LE(c.hidden * c.w1_rows() * c.experts, std::int64_t{1} << 21);
  EXPECT_NO_THROW(validate(c, 2));
}

TEST(ConfigFiles, MissingFileIsNamed) {
  EXPECT_TRUE(contains_all(error_message([] { load_config_file("/nonexistent/flashmoe.json"); }),
                           {"/nonexistent/flashmoe.json", "No such file"}));
}

TEST(ConfigFiles, DirectoryIsRefused) {
  EXPECT_TRUE(contains_all(error_message([] { load_config_file(kExamples.string()); }),
                           {kExamples.string(), "directory"}));
}

TEST(ConfigFiles, ErrorsInAFileNameThePath) {
  const auto path = std::filesystem::temp_directory_path() / "flashmoe_test_config_bad.json";
  std::ofstream(path) << "{\n  \"top_k\": 0\n}\n";
  EXPECT_TRUE(contains_all(error_message([&] { load_config_file(path.string()); }),
                           {path.string(), "top_k (k) = 0"}));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace flashmoe
