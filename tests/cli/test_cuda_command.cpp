// `flashmoe run --backend cuda` where the backend cannot run — no GPU (CI), or a build without
// the CUDA engine — fails at once, with the runtime-error status, saying why in words a user can
// act on; on a machine with a usable GPU this test skips (tests/cuda runs the backend there).
#include <gtest/gtest.h>

#include <string>

#include "cli_runner.hpp"

#if FLASHMOE_HAVE_CUDA_ENGINE
#include "engine/cuda/cuda_layer.hpp"
#endif

namespace flashmoe::testing {
namespace {

TEST(CliCudaBackend, WithoutAUsableGpuSaysWhyAndFails) {
#if FLASHMOE_HAVE_CUDA_ENGINE
  const std::string reason = cuda::unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a GPU is usable here; tests/cuda runs the cuda backend";
  const std::string expected = "backend cuda: " + reason;
#else
  const std::string expected = "this build of flashmoe has no CUDA engine";
#endif
  const CliResult r = run_flashmoe("run --backend cuda --tokens 8 " + kSmall);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(expected), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(r.out.find("check:"), std::string::npos) << r.out;
}

TEST(CliCudaBackend, HelpListsIt) {
  const CliResult r = run_flashmoe("run --help");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("cuda"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace flashmoe::testing
