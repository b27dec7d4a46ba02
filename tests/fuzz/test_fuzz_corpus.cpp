// Every input of the fuzz corpus (tests/fuzz/corpus/<target>/: the seeds, and each input a
// fuzzing run found to crash, kept there once fixed) through its target's body, in the
// normal suite: without clang, and under the asan stage's sanitizers too.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fuzz_targets.hpp"

namespace flashmoe::fuzz {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(FLASHMOE_FUZZ_CORPUS);

// Runs every file of corpus/<target>/ through `body`; returns how many there were.
int replay(const std::string& target, void (*body)(std::string_view)) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(kCorpus / target)) {
    std::ifstream file(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << file.rdbuf();
    SCOPED_TRACE(entry.path().string());
    body(bytes.str());
    ++count;
  }
  return count;
}

TEST(FuzzCorpus, ConfigReader) {
  EXPECT_GE(replay("config", config_reader), 3);
}
TEST(FuzzCorpus, FlashDMoEReader) {
  EXPECT_GE(replay("flashdmoe", flashdmoe_reader), 2);
}
TEST(FuzzCorpus, MetaReader) {
  EXPECT_GE(replay("meta", meta_reader), 2);
}
TEST(FuzzCorpus, NpyReader) {
  EXPECT_GE(replay("npy", npy_reader), 3);
}

}  // namespace
}  // namespace flashmoe::fuzz
