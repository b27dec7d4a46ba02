// A failure inside a thread the project started — an engine worker, a thread of the bench's
// ceiling matmul, a task of the baseline's pool, or a thread that cannot be created at all —
// ends the command with `flashmoe: error: ...` and exit status 1, never std::terminate (which
// would print "terminate called ..." and end the process with SIGABRT). The faults are injected
// through FLASHMOE_TEST_FAULT (src/common/test_fault.hpp).
#include <gtest/gtest.h>

#include "cli_runner.hpp"

namespace flashmoe::testing {
namespace {

void expect_clean_failure(const CliResult& r, const std::string& message) {
  EXPECT_EQ(r.status, 1) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
  EXPECT_NE(r.err.find("flashmoe: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
}

const std::string kBench = "bench --ranks 2 --tokens 16 --workers 1 --warmup 0 --repeats 1 " +
                           kSmall;

TEST(CliFailuresInThreads, EngineWorker) {
  expect_clean_failure(
      run_flashmoe("run --tokens 20 --ranks 2 " + kSmall, "FLASHMOE_TEST_FAULT=engine_worker"),
      "injected test fault at engine_worker");
}

TEST(CliFailuresInThreads, BenchCeilingMatmul) {
  expect_clean_failure(
      run_flashmoe(kBench + " --matmul_size 32", "FLASHMOE_TEST_FAULT=bench_ceiling"),
      "injected test fault at bench_ceiling");
}

TEST(CliFailuresInThreads, BaselineTask) {
  expect_clean_failure(
      run_flashmoe(kBench + " --matmul_size 0", "FLASHMOE_TEST_FAULT=baseline_task"),
      "injected test fault at baseline_task");
}

TEST(CliFailuresInThreads, EngineWorkerDuringBench) {
  expect_clean_failure(
      run_flashmoe(kBench + " --matmul_size 0", "FLASHMOE_TEST_FAULT=engine_worker"),
      "injected test fault at engine_worker");
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// The sanitizers reserve far more address space than the limit allows, hence not under them.
TEST(CliFailuresInThreads, ThreadsThatCannotBeCreated) {
  expect_clean_failure(
      run_flashmoe("run --tokens 8 --workers 600 " + kSmall, "ulimit -v 2000000;"),
      "could not start 600 threads");
}
#endif

}  // namespace
}  // namespace flashmoe::testing
