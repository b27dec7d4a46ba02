// Loud failure and observability: a wait that can never be satisfied ends in a TimeoutError
// naming the rank, what it waited for and the peer, within the configured timeout (no hang);
// the engine reports per-stage seconds and writes a Chrome trace of every task when asked.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine_test_support.hpp"

namespace flashmoe {
namespace {

TEST(EngineFailures, SilentPeerTimesOutNamingWhatWasMissing) {
  Config c = engine_test::small_config(DType::fp32, Activation::relu, 4, 2);
  c.wait_timeout_s = 0.5;
  const Problem problem = make_random_problem(c, 2, {20, 20}, 1, true);
  engine::EngineOptions options = engine_test::small_tiles(2);
  options.faults.drop_dispatch_from_rank = 1;
  const auto start = std::chrono::steady_clock::now();
  try {
    engine::run_in_process(problem, options);
    FAIL() << "a silent peer must fail the call";
  } catch (const TimeoutError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("timed out after 0.5 s"), std::string::npos) << message;
    // Every rank (rank 1 too: its packets to itself are dropped) waits for rank 1's packets.
    const bool names_missing_packet =
        message.find("dispatch packet of local expert") != std::string::npos &&
        message.find("from rank 1") != std::string::npos;
    const bool names_missing_rows = message.find("rank 1 timed out") != std::string::npos &&
                                    message.find("token tile") != std::string::npos;
    EXPECT_TRUE(names_missing_packet || names_missing_rows) << message;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 30.0) << "the failure must come soon after the timeout";
}

// A broken invariant (here the ready queue sized too small, a test hook) ends the call with
// an Error naming the rank and what broke — never a dropped task, a hang or a crash.
TEST(EngineFailures, AQueueTooSmallIsABrokenInvariantNamedInTheError) {
  Config c = engine_test::small_config(DType::fp32, Activation::relu, 4, 2);
  const Problem problem = make_random_problem(c, 2, {20, 20}, 1, true);
  engine::EngineOptions options = engine_test::small_tiles(2);
  options.faults.queue_capacity_limit = 1;
  try {
    engine::run_in_process(problem, options);
    FAIL() << "a queue too small for the pass must fail the call";
  } catch (const TimeoutError& error) {
    FAIL() << "a broken invariant is not a timeout: " << error.what();
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("task queue overflow (capacity 1)"), std::string::npos) << message;
    EXPECT_NE(message.find("rank "), std::string::npos) << message;
  }
}

TEST(EngineFailures, ReportsStageSecondsAndWritesATrace) {
  Config c = engine_test::small_config(DType::fp32, Activation::silu, 4, 2);
  const Problem problem = make_random_problem(c, 2, {40, 9}, 2, true);
  engine::EngineOptions options = engine_test::small_tiles(2);
  options.trace_path = ::testing::TempDir() + "flashmoe_engine_trace.json";
  const Results results = engine::run_in_process(problem, options);
  for (const char* stage :
       {"forward", "backward", "forward.gate", "forward.expert_up", "forward.expert_down",
        "forward.combine", "backward.gate_gradient", "backward.expert_grad_hidden",
        "backward.weight_grad_up", "backward.input_grad"})
    EXPECT_TRUE(results.seconds.count(stage) == 1) << "missing stage " << stage;

  std::ifstream in(options.trace_path);
  ASSERT_TRUE(in.good()) << options.trace_path;
  const nlohmann::json trace = nlohmann::json::parse(in);
  const auto& events = trace.at("traceEvents");
  ASSERT_GT(events.size(), 20u);
  int combines = 0;
  for (const auto& event : events) {
    EXPECT_EQ(event.at("ph"), "X");
    EXPECT_GE(event.at("dur").get<double>(), 0.0);
    EXPECT_GE(event.at("pid").get<int>(), 0);
    EXPECT_LT(event.at("pid").get<int>(), 2);
    if (event.at("name") == "combine") ++combines;
  }
  EXPECT_EQ(combines, 3 + 1) << "one combine per token tile (tiles of 16: 40 → 3, 9 → 1)";
  std::remove(options.trace_path.c_str());
}

}  // namespace
}  // namespace flashmoe
