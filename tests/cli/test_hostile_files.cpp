// Files built to break a reader, given to the command (issue 10's table, rows 2, 4, 9, 11, 12,
// 15, 19 and 20): each ends with exit status 1 and a message naming the file and the cause,
// never with a signal, a hang, an exhausted memory or a silent acceptance.
#include <gtest/gtest.h>

#include <algorithm>
#include <sys/stat.h>

#include "cli_runner.hpp"

namespace flashmoe::testing {
namespace {

namespace fs = std::filesystem;

class CliHostileConfig : public ::testing::Test {
 protected:
  // Writes `text` as a configuration file and runs `flashmoe run --config` on it.
  void expect_config_refused(const std::string& text, const std::string& message,
                             const std::string& shell_prefix = "") {
    write_file(path_, text);
    expect_refusal("run --config " + path_.string(), kError, message, shell_prefix);
  }
  TempDir dir_;
  fs::path path_ = dir_ / "config.json";
};

TEST_F(CliHostileConfig, DeepNestingIsRefused) {
  const std::size_t depth = 100'000;
  expect_config_refused("{\"hidden\": " + std::string(depth, '[') + std::string(depth, ']') + "}",
                        "key 'hidden': nested more than 64 levels deep");
  std::string objects = "{\"hidden\": ";
  for (std::size_t i = 0; i < depth; ++i) objects += "{\"a\":";
  expect_config_refused(objects + "1" + std::string(depth + 1, '}'), "nested more than 64 levels");
}

// The sanitizers reserve far more address space than a 2 GB limit allows; under them the test
// runs without the limit (the refusal it checks comes before any reading all the same).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
const std::string kMemoryLimit;
#else
const std::string kMemoryLimit = "ulimit -v 2000000;";
#endif

TEST_F(CliHostileConfig, AHugeFileIsRefusedByItsSize) {
  // 200 MB (sparse), under a 2 GB address-space limit: refused before a byte is read.
  write_file(path_, "{");
  fs::resize_file(path_, 200'000'000);
  expect_refusal("run --config " + path_.string(), kError,
                 "it is 200000000 bytes, more than the 1048576 allowed", kMemoryLimit);
}

TEST_F(CliHostileConfig, DevicesAndFifosAreRefusedUnread) {
  expect_refusal("run --config /dev/zero", kError,
                 "cannot read configuration file '/dev/zero': it is a character device");
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  expect_refusal("run --config " + path_.string(), kError, "it is a FIFO (named pipe)");
}

TEST_F(CliHostileConfig, ANulByteIsRefused) {
  expect_config_refused(std::string("{\"hidden\": 16}\0{\"hidden\": 32, \"bogus\": 1}", 41),
                        "at line 1, column 15 (byte 14): a NUL byte");
}

TEST_F(CliHostileConfig, NumbersOutOfRangeNameLineAndKey) {
  expect_config_refused("{\"hidden\": 16,\n\"capacity_factor\": 1e400}",
                        "at line 2, column 20, key 'capacity_factor': the number 1e400 is out of "
                        "range");
  expect_config_refused("{\"hidden\": 18446744073709551616}",
                        "key 'hidden': the integer 18446744073709551616 is out of range");
}

class CliHostileLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    const CliResult r = run_flashmoe("run --backend reference --ranks 2 --tokens 6,5 " + kSmall +
                                     " --quiet --save " + saved_.string());
    ASSERT_EQ(r.status, 0) << r.err;
  }
  void expect_load_refused(const std::string& message) {
    expect_refusal("run --load " + saved_.string(), kError, message);
  }
  TempDir dir_;
  fs::path saved_ = dir_ / "run";
};

TEST_F(CliHostileLoad, MetaWithADuplicateOrDeepKeyIsRefused) {
  const fs::path meta = saved_ / "meta.json";
  write_file(meta, "{\"hidden\": 8, \"hidden\": 16}");
  expect_load_refused("duplicate key 'hidden' in " + meta.string() + " at line 1");
  write_file(meta, "{\"hidden\": " + std::string(100'000, '[') + std::string(100'000, ']') + "}");
  expect_load_refused("key 'hidden': nested more than 64 levels deep");
}

TEST_F(CliHostileLoad, ATensorThatIsNotARegularFileIsNamedForWhatItIs) {
  const fs::path x = saved_ / "rank0/x.npy";
  fs::remove(x);
  fs::create_directory(x);
  expect_load_refused("cannot read npy file '" + x.string() + "': it is a directory");
  fs::remove(x);
  ASSERT_EQ(::mkfifo(x.c_str(), 0600), 0);
  expect_load_refused("cannot read npy file '" + x.string() + "': it is a FIFO");
  fs::remove(x);
  fs::create_symlink(x, x);
  expect_load_refused("cannot read npy file '" + x.string() +
                      "': it is a symbolic link that loops");
  fs::remove(x);
  fs::create_symlink("/dev/zero", x);
  expect_load_refused("cannot read npy file '" + x.string() + "': it is a character device");
}

// Row 20, second half: an unwritable --json path is refused before anything is measured (it
// used to be reported after the whole benchmark).
TEST(CliHostileBench, AnUnwritableJsonPathFailsBeforeMeasuring) {
  const CliResult r = run_flashmoe("bench --ranks 1 --tokens 16 --warmup 0 --repeats 1 " + kSmall +
                                   " --json /proc/flashmoe-nope.json");
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("cannot write --json /proc/flashmoe-nope.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was measured"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "only the error line:\n" << r.err;
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace flashmoe::testing
