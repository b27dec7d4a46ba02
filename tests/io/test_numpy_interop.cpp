// numpy reads the files flashmoe writes and flashmoe reads the files numpy writes. Uses the
// system Python (/usr/bin/python3); skipped when it or numpy is missing.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include "io/npy.hpp"
#include "temp_dir.hpp"

namespace flashmoe::io {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr int kSkipStatus = 77;

HostTensor sample(ElementType type) {
  HostTensor t(type, {3, 4});
  const bool floating = type == ElementType::f64 || type == ElementType::f32 ||
                        type == ElementType::bf16 || type == ElementType::f16;
  for (std::int64_t i = 0; i < t.numel(); ++i)
    t.set(i, floating ? 0.375 * static_cast<double>(i) - 2.5 : static_cast<double>((37 * i) % 251));
  return t;
}

TEST(NumpyInterop, NumpyReadsOursAndWeReadNumpys) {
  if (!std::filesystem::exists(kPython)) GTEST_SKIP() << kPython << " is not installed";
  const flashmoe::testing::TempDir dir;
  const std::pair<const char*, ElementType> types[] = {
      {"f64", ElementType::f64}, {"f32", ElementType::f32}, {"bf16", ElementType::bf16},
      {"f16", ElementType::f16}, {"i32", ElementType::i32}, {"i64", ElementType::i64},
      {"u8", ElementType::u8}};
  for (const auto& [name, type] : types)
    write_npy((dir / (std::string("ours_") + name + ".npy")).string(), sample(type));

  const std::string command =
      std::string(kPython) + " " + FLASHMOE_NUMPY_SCRIPT + " '" + dir.path().string() + "'";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << command;
  if (WEXITSTATUS(status) == kSkipStatus) GTEST_SKIP() << "numpy is not installed for " << kPython;
  ASSERT_EQ(WEXITSTATUS(status), 0) << command;

  for (const auto& [name, type] : {std::pair{"f64", ElementType::f64},
                                   {"f32", ElementType::f32},
                                   {"f16", ElementType::f16},
                                   {"i32", ElementType::i32},
                                   {"i64", ElementType::i64},
                                   {"u8", ElementType::u8}}) {
    const HostTensor theirs = read_npy((dir / (std::string("theirs_") + name + ".npy")).string());
    const HostTensor ours = sample(type);
    ASSERT_EQ(theirs.type(), type) << name;
    ASSERT_EQ(theirs.shape(), ours.shape()) << name;
    for (std::int64_t i = 0; i < ours.numel(); ++i) EXPECT_EQ(theirs.get(i), ours.get(i)) << name;
  }
  const HostTensor flags = read_npy((dir / "theirs_bool.npy").string());
  ASSERT_EQ(flags.type(), ElementType::u8);
  EXPECT_EQ(flags.get(0), 1.0);
  EXPECT_EQ(flags.get(1), 0.0);
}

}  // namespace
}  // namespace flashmoe::io
