// Memory refused up front, with its cause (issue 10 item 3, rows 6 and 10): a layer whose inputs
// or engine workspaces cannot fit in what this process may still take is refused before
// anything is allocated, naming the sizes and the options that drive them — not "out of
// memory" after seconds of allocating. The limit is set with `ulimit -v`, so the verdict does
// not depend on the machine's memory.
#include <gtest/gtest.h>

#include <string>

#include "cli_runner.hpp"

namespace flashmoe::testing {
namespace {

// The sanitizers reserve far more address space than any such limit allows.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kCanLimitMemory = false;
#else
constexpr bool kCanLimitMemory = true;
#endif
const std::string kLimit8GB = "ulimit -v 8000000;";

class CliMemoryUpFront : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kCanLimitMemory)
      GTEST_SKIP() << "a sanitizer build cannot run under ulimit -v (it reserves terabytes of "
                      "address space); the release build runs this test";
  }
};

TEST_F(CliMemoryUpFront, ThousandRanksAreRefusedNamingTheWorkspaces) {  // row 6
  const CliResult r = run_flashmoe(
      "run --hidden 16 --ffn 24 --experts 1000 --ranks 1000 --tokens 1 --quiet", kLimit8GB);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("engine: the workspaces of 1000 rank(s) in this process (of 1000) need"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("available (the address-space limit (ulimit -v 8000000)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("out of memory"), std::string::npos) << r.err;
}

TEST_F(CliMemoryUpFront, LargeWeightsAreRefusedNamingThem) {  // row 10, fp32: the weights
  const CliResult r = run_flashmoe(
      "run --hidden 4096 --ffn 4096 --experts 64 --max_tokens 65536 --tokens 1 --quiet",
      kLimit8GB);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("the inputs of this problem alone need 8.0 GiB (weights 8.0 GiB: 64 "
                       "experts × (4096 + 4096) × 4096 values"),
            std::string::npos)
      << r.err;
}

TEST_F(CliMemoryUpFront, MaxTokensThatOutgrowTheLimitAreNamed) {  // row 10, bf16: max_tokens
  const CliResult r = run_flashmoe(
      "run --hidden 4096 --ffn 4096 --experts 64 --max_tokens 65536 --tokens 1 --dtype bf16 "
      "--quiet",
      kLimit8GB);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("engine: the workspaces of 1 rank(s)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("max_tokens 65536"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace flashmoe::testing
