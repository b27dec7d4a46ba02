// `flashmoe run` on the cpu engine itself (the other end-to-end tests mostly use the reference
// backend): bf16, two ranks, forward + backward, --check against the fp64 reference — the
// command the portability issue names —, --check failing with exit status 3 on a wrong engine
// result, and the summary saying which GEMM path ran. Labelled cpu_kernels, so the capped-ISA
// stage runs it on the widened bf16 path as well.
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

// The row of `tensor` in --check's table, e.g. "  dw1      1.2e+00   3.4e-07   ...  FAIL".
std::string check_row(const std::string& out, const std::string& tensor) {
  const std::string start = "\n  " + tensor + " ";
  const std::size_t at = out.find(start);
  if (at == std::string::npos) return "";
  return out.substr(at + 1, out.find('\n', at + 1) - at - 1);
}

bool ends_with(const std::string& text, const std::string& end) {
  return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
}

// A wrong engine result (the test-only fault spoils one element of rank 0's out and dw1) must
// fail the check, name exactly those tensors and exit 3; the same run without it passes.
TEST(CliCpuEngine, CheckFailsOnAWrongResultAndNamesTheTensors) {
  const std::string command = "run --ranks 2 --backward --check --tokens 24 " + kSmall;
  const CliResult right = run_flashmoe(command);
  ASSERT_EQ(right.status, 0) << right.out << right.err;
  EXPECT_NE(right.out.find("\ncheck: PASS\n"), std::string::npos) << right.out;

  const CliResult wrong = run_flashmoe(command, "FLASHMOE_TEST_FAULT=engine_wrong_result");
  EXPECT_EQ(wrong.status, 3) << wrong.out << wrong.err;
  EXPECT_NE(wrong.out.find("\ncheck: FAIL\n"), std::string::npos) << wrong.out;
  for (const char* tensor : {"out", "dw1"})
    EXPECT_TRUE(ends_with(check_row(wrong.out, tensor), "FAIL")) << tensor << " in\n" << wrong.out;
  for (const char* tensor : {"dx", "dwg", "dw2"})
    EXPECT_TRUE(ends_with(check_row(wrong.out, tensor), "PASS")) << tensor << " in\n" << wrong.out;

  const CliResult quiet =
      run_flashmoe(command + " --quiet", "FLASHMOE_TEST_FAULT=engine_wrong_result");
  EXPECT_EQ(quiet.status, 3) << quiet.out << quiet.err;
  EXPECT_EQ(quiet.out.rfind("check: FAIL out=", 0), 0u) << quiet.out;
  EXPECT_NE(quiet.out.find(" dw1="), std::string::npos) << quiet.out;
  EXPECT_EQ(quiet.out.find(" dx="), std::string::npos) << quiet.out;
}

TEST(CliCpuEngine, Fp32SummaryNamesItsGemmPath) {
  const CliResult r = run_flashmoe("run --tokens 16 " + kSmall);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  // oneDNN or OpenBLAS, whichever the path table took here (gemm_paths.cpp).
  const bool names_a_library = r.out.find("  fp32 GEMM: native, oneDNN ") != std::string::npos ||
                               r.out.find("  fp32 GEMM: native, OpenBLAS ") != std::string::npos;
  EXPECT_TRUE(names_a_library) << r.out;
  EXPECT_NE(r.out.find("every layout"), std::string::npos) << r.out;
}

// The program's options reach the engine: groups of 2 threads, dedicated roles, 2 partitions —
// and the same bytes as the defaults (the saved runs are compared file by file).
TEST(CliCpuEngine, ProgramOptionsGiveTheSameResults) {
  const TempDir dir;
  const std::string common = "run --ranks 2 --tokens 33,20 --backward --quiet " + kSmall;
  const CliResult plain = run_flashmoe(common + " --save " + (dir / "plain").string());
  ASSERT_EQ(plain.status, 0) << plain.err;
  const CliResult program = run_flashmoe(
      common + " --group_size 2 --scheduling dedicated --subscribers 2 --check --save " +
      (dir / "program").string());
  ASSERT_EQ(program.status, 0) << program.out << program.err;
  EXPECT_NE(program.out.find("check: PASS"), std::string::npos) << program.out;
  for (const char* file : {"rank0/out.npy", "rank1/dx.npy", "rank0/dw1.npy", "rank1/dwg.npy"})
    EXPECT_EQ(slurp(dir / "plain" / file), slurp(dir / "program" / file)) << file;
}

TEST(CliCpuEngine, ProgramOptionsAreChecked) {
  const CliResult mode = run_flashmoe("run --scheduling eager " + kSmall);
  EXPECT_EQ(mode.status, 2);
  EXPECT_NE(mode.err.find("--scheduling: unknown value 'eager' (allowed: shared, dedicated)"),
            std::string::npos)
      << mode.err;
  const CliResult group = run_flashmoe("run --group_size 0 " + kSmall);
  EXPECT_EQ(group.status, 2);
  EXPECT_NE(group.err.find("--group_size"), std::string::npos) << group.err;
  const CliResult ignored =
      run_flashmoe("run --backend reference --group_size 2 --tokens 8 " + kSmall);
  EXPECT_EQ(ignored.status, 0) << ignored.err;
  EXPECT_NE(ignored.err.find("--group_size is ignored by the reference backend"), std::string::npos)
      << ignored.err;
}

}  // namespace
}  // namespace flashmoe::testing
