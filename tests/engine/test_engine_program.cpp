// The program in the GPU's shape (DESIGN §3), run on the CPU:
//  - every group size (threads per processor group), worker count, scheduling mode (roles taken
//    by idle processors, or a dedicated scheduler and subscribers) and subscriber partitioning
//    gives the same bits, for W = 1, 2, 4;
//  - passes driven by the program: 50 passes back to back — forward, backward, token counts
//    changing from pass to pass — submitted without waiting, so every rank runs at its own pace
//    into its next pass, each pass bitwise equal to the same pass on a fresh layer; two layers
//    interleaved; a rank that runs late while its peers already dispatch their next forward
//    into its buffer (the double-buffered received rows keep that safe); a rank with no tokens
//    that runs into its next pass before a late peer saw its signal (two signal slots);
//  - a failed pass cancels the passes submitted after it, and the layer works again afterwards.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "engine_test_support.hpp"
#include "support/results_compare.hpp"

namespace flashmoe {
namespace {

using engine_test::small_config;
using engine_test::small_tiles;
using test::expect_bitwise_equal;

engine::EngineOptions program_options(int workers, int group_size, runtime::Scheduling scheduling,
                                      int subscribers) {
  engine::EngineOptions o = small_tiles(workers);
  o.group_size = group_size;
  o.scheduling = scheduling;
  o.subscribers = subscribers;
  return o;
}

std::string describe(const engine::EngineOptions& o) {
  return "workers=" + std::to_string(o.workers_per_rank) + " G=" + std::to_string(o.group_size) +
         (o.scheduling == runtime::Scheduling::dedicated ? " dedicated" : " shared") +
         " subscribers=" + std::to_string(o.subscribers);
}

Problem problem_with(DType dtype, Activation activation, int world, std::uint64_t seed) {
  Config c = small_config(dtype, activation, 8, 2);
  c.bias = true;
  c.aux_loss = true;
  c.z_loss = true;
  std::vector<std::int64_t> tokens;
  for (int r = 0; r < world; ++r) tokens.push_back(std::vector<std::int64_t>{37, 0, 65, 20}[r % 4]);
  return make_random_problem(c, world, tokens, seed, true, 0.3, 0.2);
}

TEST(EngineProgram, GroupSizesWorkersSchedulingAndPartitionsGiveTheSameBits) {
  using runtime::Scheduling;
  for (const int world : {1, 2, 4}) {
    for (const DType dtype : {DType::fp32, DType::bf16}) {
      const Problem problem = problem_with(dtype, Activation::swiglu, world, 5);
      const Results expected =
          engine::run_in_process(problem, program_options(1, 1, Scheduling::shared, 1));
      std::vector<engine::EngineOptions> variants;
      for (const int group : {1, 2, 4})
        for (const Scheduling scheduling : {Scheduling::shared, Scheduling::dedicated})
          variants.push_back(program_options(group == 4 ? 1 : 2, group, scheduling, 1));
      variants.push_back(program_options(3, 2, Scheduling::shared, 2));
      variants.push_back(program_options(3, 1, Scheduling::dedicated, 2));
      variants.push_back(program_options(2, 4, Scheduling::dedicated, 3));
      for (const engine::EngineOptions& options : variants)
        expect_bitwise_equal(engine::run_in_process(problem, options), expected,
                             "W=" + std::to_string(world) + " " + std::string(to_string(dtype)) +
                                 " " + describe(options));
    }
  }
}

TEST(EngineProgram, GroupCooperativeActorsMatchTheReference) {
  const Problem problem = problem_with(DType::fp32, Activation::gelu, 2, 8);
  engine_test::expect_matches_reference(
      problem,
      engine::run_in_process(problem, program_options(2, 4, runtime::Scheduling::dedicated, 2)),
      "G=4 dedicated");
}

// One pass of a sequence: its kind and its inputs (every pass its own tensors).
struct PassPlan {
  bool backward = false;
  Problem inputs;  // forward: x; backward: x of its forward, and dout
};

// A fresh layer's result for one pass: a forward alone, or a forward and its backward.
Results fresh(const Problem& inputs, bool backward, const engine::EngineOptions& options) {
  engine::Layer layer(inputs, options);
  layer.forward();
  if (backward) layer.backward();
  return layer.results();
}

// The parts of a result a pass of `backward` kind writes.
void expect_pass_equal(const Results& got, const Results& expected, bool backward,
                       const std::string& what) {
  for (std::size_t r = 0; r < expected.ranks.size(); ++r) {
    const RankOutputs& a = got.ranks[r];
    const RankOutputs& b = expected.ranks[r];
    const std::string at = what + " rank " + std::to_string(r) + " ";
    if (!backward) {
      EXPECT_TRUE(test::bitwise_equal(a.out, b.out)) << at << "out";
      EXPECT_TRUE(test::bitwise_equal(a.routing.kept, b.routing.kept)) << at << "kept";
      EXPECT_TRUE(test::bitwise_equal(a.routing.topk_weight, b.routing.topk_weight))
          << at << "topk_weight";
      EXPECT_EQ(a.aux_loss, b.aux_loss) << at << "aux";
      continue;
    }
    EXPECT_TRUE(test::bitwise_equal(a.dx, b.dx)) << at << "dx";
    EXPECT_TRUE(test::bitwise_equal(a.dwg, b.dwg)) << at << "dwg";
    EXPECT_TRUE(test::bitwise_equal(a.dw1, b.dw1)) << at << "dw1";
    EXPECT_TRUE(test::bitwise_equal(a.dw2, b.dw2)) << at << "dw2";
    EXPECT_TRUE(test::bitwise_equal(a.db1, b.db1)) << at << "db1";
  }
}

// Passes submitted back to back on one layer (no wait in between), then checked one by one.
void run_sequence(std::deque<PassPlan>& plans, const engine::EngineOptions& options,
                  const std::string& what) {
  engine::Layer layer(plans.front().inputs, options);
  std::deque<Results> outputs(plans.size());
  std::vector<engine::PassTicket> tickets;
  for (std::size_t i = 0; i < plans.size(); ++i)
    tickets.push_back(plans[i].backward ? layer.submit_backward(plans[i].inputs, outputs[i])
                                        : layer.submit_forward(plans[i].inputs, outputs[i]));
  for (const engine::PassTicket& ticket : tickets) layer.wait(ticket);
  for (std::size_t i = 0; i < plans.size(); ++i)
    expect_pass_equal(outputs[i], fresh(plans[i].inputs, plans[i].backward, options),
                      plans[i].backward, what + " pass " + std::to_string(i + 1));
}

// A forward with its own random inputs (same weights for every pass: they come from `seed 0`
// of the same config, re-drawn per pass with the same seed) and `tokens` per rank.
Problem pass_inputs(const Config& c, int world, const std::vector<std::int64_t>& tokens,
                    std::uint64_t seed) {
  return make_random_problem(c, world, tokens, seed, true, 0.1, 0.05);
}

TEST(EngineProgram, FiftyPassesBackToBackEachEqualToAFreshPass) {
  Config c = small_config(DType::bf16, Activation::silu, 6, 2);
  c.bias = true;
  const int world = 3;
  std::deque<PassPlan> plans;
  for (int i = 0; plans.size() < 50; ++i) {
    // Token counts change from pass to pass (up to max_tokens = 129), one rank sometimes empty.
    const std::vector<std::int64_t> tokens{(i * 37) % 130, (i * 11 + 5) % 70,
                                           i % 5 == 0 ? 0 : (i * 7) % 129};
    Problem inputs = pass_inputs(c, world, tokens, 100 + static_cast<std::uint64_t>(i));
    plans.push_back({false, inputs});
    if (i % 3 != 2 && plans.size() < 50) plans.push_back({true, inputs});  // F B, F B, F, ...
  }
  run_sequence(plans, small_tiles(2), "bf16 W=3");
}

TEST(EngineProgram, TwoLayersInterleavedWithoutWaiting) {
  const Problem a = problem_with(DType::fp32, Activation::relu, 2, 11);
  Config other = small_config(DType::bf16, Activation::geglu, 4, 3);
  other.hidden = 48;
  const Problem b = make_random_problem(other, 2, {50, 3}, 12, true, 0.1, 0.0);
  engine::Layer layer_a(a, small_tiles(2));
  engine::Layer layer_b(b, program_options(1, 2, runtime::Scheduling::dedicated, 2));
  Results ra1, ra2, rb1, rb2;
  const engine::PassTicket tickets[] = {
      layer_a.submit_forward(a, ra1),  layer_b.submit_forward(b, rb1),
      layer_a.submit_backward(a, ra1), layer_b.submit_backward(b, rb1),
      layer_a.submit_forward(a, ra2),  layer_b.submit_forward(b, rb2),
      layer_b.submit_backward(b, rb2), layer_a.submit_backward(a, ra2)};
  for (int i : {0, 2, 4, 7}) layer_a.wait(tickets[i]);
  for (int i : {1, 3, 5, 6}) layer_b.wait(tickets[i]);
  const Results expected_a = engine::run_in_process(a, small_tiles(2));
  const Results expected_b = engine::run_in_process(b, small_tiles(2));
  for (const Results* r : {&ra1, &ra2}) {
    expect_pass_equal(*r, expected_a, false, "layer a");
    expect_pass_equal(*r, expected_a, true, "layer a");
  }
  for (const Results* r : {&rb1, &rb2}) {
    expect_pass_equal(*r, expected_b, false, "layer b");
    expect_pass_equal(*r, expected_b, true, "layer b");
  }
}

// Rank 1's dW1 tasks sleep, so rank 0 finishes its backward and runs into the next forward,
// dispatching new x rows into rank 1's buffer while rank 1 still computes dW1 from the previous
// forward's rows. Without the double-buffering by forward parity, dW1 would mix the two.
TEST(EngineProgram, ARankRunningLateNeverReadsItsPeersNextForward) {
  Config c = small_config(DType::fp32, Activation::gelu, 4, 2);
  std::deque<PassPlan> plans;
  for (int i = 0; i < 4; ++i) {
    Problem inputs = pass_inputs(c, 2, {48, 40}, 300 + static_cast<std::uint64_t>(i));
    plans.push_back({false, inputs});
    plans.push_back({true, inputs});
  }
  engine::EngineOptions options = small_tiles(1);
  options.faults.slow_rank = 1;
  options.faults.slow_seconds = 0.01;
  run_sequence(plans, options, "slow rank 1");
}

// Rank 0 has no tokens, so its packets to rank 1 carry no rows and it needs nothing back from
// rank 1: it finishes each forward as soon as it served rank 1's packets, and signals its next
// forward to rank 1 while rank 1 (asleep right after its own dispatch) has not looked at this
// forward's signals yet. With one signal word per packet, the next pass's signal replaced the
// unseen one and rank 1 waited for it until it timed out; the two slots by epoch parity keep it.
TEST(EngineProgram, ARankRunningLateStillSeesAnEmptyPeersSignal) {
  Config c = small_config(DType::fp32, Activation::relu, 4, 2);
  c.wait_timeout_s = 20;
  std::deque<PassPlan> plans;
  for (int i = 0; i < 3; ++i) {
    Problem inputs = pass_inputs(c, 2, {0, 40}, 400 + static_cast<std::uint64_t>(i));
    plans.push_back({false, inputs});
    if (i == 1) plans.push_back({true, inputs});  // F, F B, F
  }
  engine::EngineOptions options = small_tiles(1);
  options.faults.slow_rank = 1;
  options.faults.slow_at = runtime::FaultInjection::SlowAt::after_dispatch_signals;
  options.faults.slow_seconds = 0.2;
  run_sequence(plans, options, "empty rank 0, slow rank 1");
}

TEST(EngineProgram, AFailedPassCancelsTheNextOnesAndTheLayerRecovers) {
  Config c = small_config(DType::fp32, Activation::relu, 4, 2);
  c.wait_timeout_s = 0.3;
  const Problem problem = make_random_problem(c, 2, {20, 17}, 4, true);
  engine::EngineOptions options = small_tiles(2);
  options.faults.drop_dispatch_from_rank = 1;
  options.faults.drop_dispatch_in_pass = 1;  // only the first pass: rank 1 stays silent
  engine::Layer layer(problem, options);
  Results first, second, third;
  const engine::PassTicket t1 = layer.submit_forward(problem, first);
  const engine::PassTicket t2 = layer.submit_backward(problem, second);
  EXPECT_THROW(layer.wait(t1), TimeoutError);
  try {
    layer.wait(t2);
    ADD_FAILURE() << "a pass submitted after a failed one must not run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cancelled"), std::string::npos) << e.what();
  }
  const engine::PassTicket t3 = layer.submit_forward(problem, third);
  layer.wait(t3);
  expect_pass_equal(third, engine::run_in_process(problem, small_tiles(2)), false, "after");
  layer.backward();  // the layer's own blocking passes work too
}

}  // namespace
}  // namespace flashmoe
