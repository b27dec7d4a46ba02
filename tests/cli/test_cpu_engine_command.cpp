// `flashmoe run` on the cpu engine itself (the other end-to-end tests mostly use the reference
// backend): bf16, two ranks, forward + backward, --check against the fp64 reference — the
// command the portability issue names — and the summary saying which GEMM path ran. Labelled
// cpu_kernels, so the capped-ISA stage runs it on the widened bf16 path as well.
#include <gtest/gtest.h>

#include "cli_runner.hpp"

namespace flashmoe::testing {
namespace {

TEST(CliCpuEngine, Bf16TwoRanksBackwardCheckPasses) {
  const CliResult r = run_flashmoe("run --dtype bf16 --ranks 2 --backward --check --tokens 48 " +
                                   kSmall + " --d_aux 0.1 --aux_loss");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("check: PASS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  cpu: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  bf16 GEMM: "), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(CliCpuEngine, Fp32SummaryNamesItsGemmPath) {
  const CliResult r = run_flashmoe("run --tokens 16 " + kSmall);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("  fp32 GEMM: native, oneDNN "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace flashmoe::testing
