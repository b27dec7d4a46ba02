// Every kind of bad input gives a non-zero exit status and a message that says what is wrong —
// never a crash (a signal) or a silent success.
#include <gtest/gtest.h>

#include <fstream>

#include "cli_runner.hpp"
#include "io/npy.hpp"

namespace flashmoe::testing {
namespace {

namespace fs = std::filesystem;

TEST(CliBadInput, CommandLine) {
  expect_refusal("", kUsage, "usage: flashmoe <command>");
  expect_refusal("runn", kUsage, "unknown command 'runn'; did you mean 'run'?");
  expect_refusal("run --hiden 32", kUsage, "unknown option '--hiden'; did you mean '--hidden'?");
  expect_refusal("run --top-k 2", kUsage, "did you mean '--top_k'?");
  expect_refusal("run hiden=32", kUsage, "unknown configuration key 'hiden'");
  expect_refusal("run stray", kUsage, "unexpected argument 'stray'");
  expect_refusal("run --ranks", kUsage, "option --ranks needs a value");
  expect_refusal("run --ranks two", kUsage, "--ranks: expected an integer");
  expect_refusal("run --tokens 4,4 --ranks 1 " + kSmall, kUsage, "2 counts given for 1 ranks");
  expect_refusal("run --backend nope", kUsage, "unknown backend 'nope'");
  expect_refusal("run --backend nope", kUsage, "available: ");
  expect_refusal("run --d_aux 0.5 " + kSmall, kUsage, "need --backward");
  expect_refusal("gradcheck --activation swish", kUsage, "unknown activation 'swish'");
}

TEST(CliBadInput, ConfigurationValues) {
  expect_refusal("run " + kSmall + " --top_k 9", kError, "top_k");
  expect_refusal("run " + kSmall + " --capacity_factor -1", kError, "capacity_factor");
  expect_refusal("run " + kSmall + " --activation swish", kError, "activation");
  expect_refusal("run " + kSmall + " --ranks 3", kError, "divisible");
  expect_refusal("run " + kSmall + " --tokens 5000", kError, "exceed max_tokens = 4096");
  expect_refusal("run " + kSmall + " --max_tokens 8 --tokens 9", kError, "exceed max_tokens = 8");
  // 8 TiB of weights: refused with a message instead of meeting the out-of-memory killer.
  expect_refusal("run --hidden 262144 --ffn 262144 --experts 16 --tokens 1", kError,
                 "the inputs of this problem alone need 8.0 TiB (weights 8.0 TiB");
}

TEST(CliBadInput, ConfigurationFiles) {
  const TempDir dir;
  write_file(dir / "malformed.json", "{\"hidden\": 32,\n \"ffn\": }\n");
  expect_refusal("run --config " + (dir / "malformed.json").string(), kError, "line 2");
  write_file(dir / "unknown.json", "{\"hiden\": 32}");
  expect_refusal("run --config " + (dir / "unknown.json").string(), kError,
                 "did you mean 'hidden'");
  write_file(dir / "range.json", "{\"experts\": 4, \"top_k\": 5}");
  expect_refusal("run --config " + (dir / "range.json").string(), kError, "top_k");
  expect_refusal("run --config " + (dir / "absent.json").string(), kError, "absent.json");
}

class CliBadLayout : public ::testing::Test {
 protected:
  void SetUp() override {
    const CliResult r = run_flashmoe("run --backend reference --ranks 2 --tokens 6,5 " + kSmall +
                                     " --backward --quiet --save " + saved());
    ASSERT_EQ(r.status, 0) << r.err;
  }
  std::string saved() const { return (dir_ / "run").string(); }
  TempDir dir_;
};

TEST_F(CliBadLayout, MissingFile) {
  fs::remove(saved() + "/rank1/w1.npy");
  expect_refusal("run --load " + saved(), kError, "missing file rank1/w1.npy");
  fs::remove(saved() + "/meta.json");
  expect_refusal("run --load " + saved(), kError, "missing file meta.json");
  expect_refusal("run --load " + (dir_ / "nowhere").string(), kError, "no such directory");
}

TEST_F(CliBadLayout, WrongShape) {
  io::write_npy(saved() + "/rank0/dout.npy", HostTensor(ElementType::f32, {6, 31}));
  expect_refusal("run --load " + saved(), kError,
                 "tensor dout (rank 0): expected float32 [6, 32], got float32 [6, 31]");
}

TEST_F(CliBadLayout, WrongDtype) {
  io::write_npy(saved() + "/wg.npy", HostTensor(ElementType::i32, {4, 32}));
  expect_refusal("run --load " + saved(), kError,
                 "tensor wg: expected float32 [4, 32], got int32 [4, 32]");
}

TEST_F(CliBadLayout, CorruptNpyAndMeta) {
  write_file(saved() + "/rank0/x.npy", "not an npy file");
  expect_refusal("run --load " + saved(), kError, "not a NumPy .npy file");
  write_file(saved() + "/meta.json", "{\"world_size\": 2}");
  expect_refusal("run --load " + saved(), kError, "missing key 'tokens'");
}

TEST_F(CliBadLayout, OptionsThatContradictTheSavedRun) {
  expect_refusal("run --load " + saved() + " --hidden 64", kUsage,
                 "cannot be combined with --load");
  expect_refusal("run --load " + saved() + " top_k=1", kUsage, "cannot be combined with --load");
  expect_refusal("run --load " + saved() + " --ranks 2", kUsage, "cannot be combined with --load");
}

}  // namespace
}  // namespace flashmoe::testing
