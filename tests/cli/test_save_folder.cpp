// `flashmoe run --save DIR` never leaves a folder that mixes two runs (io/save_folder.hpp,
// issue 10 row 13): a non-empty DIR is refused before the run unless --force; with --force an
// earlier, larger run's files are all replaced (its extra rank folders and gradients gone),
// files flashmoe does not own are kept, and the result loads and checks; no staging folder is
// left behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli_runner.hpp"

namespace flashmoe::testing {
namespace {

namespace fs = std::filesystem;

const std::string kRun = "run --hidden 16 --ffn 24 --experts 4 --quiet ";

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(CliSaveFolder, ANonEmptyFolderIsRefusedBeforeTheRunAndLeftAlone) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "taken";
  fs::create_directories(dir);
  write_file(dir / "mine.txt", "keep me");
  expect_refusal(kRun + "--tokens 9 --save " + dir.string(), 1,
                 "--save " + dir.string() + ": the folder is not empty (it holds 'mine.txt')");
  EXPECT_EQ(read_text(dir / "mine.txt"), "keep me");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1)
      << "no staging folder beside it";
}

TEST(CliSaveFolder, ForceReplacesAnEarlierLargerRunWholeAndKeepsOtherFiles) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "stale";
  ASSERT_EQ(run_flashmoe(kRun + "--tokens 9 --ranks 2 --backward --save " + dir.string()).status,
            0);
  write_file(dir / "notes.txt", "keep me");
  const CliResult r = run_flashmoe(kRun + "--tokens 5 --ranks 1 --save " + dir.string() +
                                   " --force");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir / "rank1")) << "the earlier run's second rank";
  EXPECT_FALSE(fs::exists(dir / "rank0" / "dx.npy")) << "the earlier run's gradient";
  EXPECT_TRUE(fs::exists(dir / "rank0" / "x.npy"));
  EXPECT_NE(read_text(dir / "meta.json").find("\"tokens\": [\n    5\n  ]"), std::string::npos)
      << read_text(dir / "meta.json");
  EXPECT_EQ(read_text(dir / "notes.txt"), "keep me");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1)
      << "no staging folder beside it";
  const CliResult check = run_flashmoe("run --quiet --check --load " + dir.string());
  EXPECT_EQ(check.status, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("check: PASS"), std::string::npos) << check.out;
}

TEST(CliSaveFolder, ForceWithoutSaveIsAUsageError) {
  expect_refusal(kRun + "--tokens 5 --force", 2, "--force needs --save DIR");
}

}  // namespace
}  // namespace flashmoe::testing
