// The bulk-synchronous baseline against the fp64 reference with its routing replayed
// (SPEC §4 tolerances per dtype), across activations, bias, drops, ranks and uneven token
// counts; bitwise determinism across thread counts; refusal of fp16.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "bench/baseline.hpp"
#include "flashmoe/error.hpp"
#include "reference/reference.hpp"
#include "support/results_compare.hpp"
#include "support/tensor_compare.hpp"

namespace flashmoe::bench {
namespace {

void expect_close(const std::string& name, const HostTensor& got, const HostTensor& expected,
                  double tolerance) {
  ASSERT_EQ(got.shape(), expected.shape()) << name;
  EXPECT_LE(test::relative_l2(got, expected), tolerance) << name;
}

struct Case {
  std::string name;
  Config config;
  std::vector<std::int64_t> tokens;  // per rank
  double d_aux = 0.0, d_z = 0.0;
};

Config small_config(DType dtype, Activation act) {
  Config c;
  c.hidden = 32;
  c.ffn = 48;
  c.experts = 4;
  c.top_k = 2;
  c.activation = act;
  c.dtype = dtype;
  c.max_tokens = 512;
  return c;
}

// Runs the baseline (forward + backward), replays its routing in the fp64 reference and
// compares every output tensor.
void check_against_reference(const Case& k) {
  SCOPED_TRACE(k.name);
  const int world = static_cast<int>(k.tokens.size());
  const Problem problem = make_random_problem(k.config, world, k.tokens, 42, true, k.d_aux, k.d_z);
  const Results got = run_baseline(problem, {.workers_per_rank = 2});
  const RoutingOverride routing = test::routing_of(got);
  const Results expected = reference::run(problem, reference::Precision::fp64, &routing);
  const double tol = test::spec_tolerance(k.config.dtype);
  for (int r = 0; r < world; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    const RankOutputs& g = got.ranks[static_cast<std::size_t>(r)];
    const RankOutputs& e = expected.ranks[static_cast<std::size_t>(r)];
    expect_close("out", g.out, e.out, tol);
    expect_close("topk_weight", g.routing.topk_weight, e.routing.topk_weight, tol);
    EXPECT_EQ(g.routing.routed, e.routing.routed);
    EXPECT_EQ(g.routing.accepted, e.routing.accepted);
    EXPECT_NEAR(g.aux_loss, e.aux_loss, tol * (std::fabs(e.aux_loss) + 1e-30));
    EXPECT_NEAR(g.z_loss, e.z_loss, tol * (std::fabs(e.z_loss) + 1e-30));
    expect_close("dx", g.dx, e.dx, tol);
    expect_close("dwg", g.dwg, e.dwg, tol);
    expect_close("dw1", g.dw1, e.dw1, tol);
    expect_close("dw2", g.dw2, e.dw2, tol);
    if (k.config.bias) {
      expect_close("db1", g.db1, e.db1, tol);
      expect_close("db2", g.db2, e.db2, tol);
    }
  }
}

TEST(Baseline, MatchesReferenceAcrossConfigurations) {
  std::vector<Case> cases;
  for (DType dtype : {DType::fp64, DType::fp32, DType::bf16}) {
    cases.push_back(
        {"gelu 2 ranks uneven", small_config(dtype, Activation::gelu), {37, 64}, 0.3, 0.2});
    Config swiglu = small_config(dtype, Activation::swiglu);
    swiglu.bias = true;
    cases.push_back({"swiglu bias 1 rank", swiglu, {50}});
  }
  Config relu = small_config(DType::fp32, Activation::relu);
  relu.normalize_weights = false;
  relu.drop_tokens = false;
  cases.push_back({"relu dropless unnormalised", relu, {20, 0, 33, 9}});
  Config geglu = small_config(DType::fp32, Activation::geglu);
  geglu.capacity_factor = 0.5;  // heavy drops
  geglu.bias = true;
  cases.push_back({"geglu heavy drops", geglu, {40, 41}, 0.5, 0.0});
  for (Activation act : {Activation::gelu_tanh, Activation::silu, Activation::identity}) {
    Config c = small_config(DType::fp32, act);
    c.top_k = 1;
    c.normalize_weights = false;
    cases.push_back({"top-1 " + std::string(to_string(act)), c, {30, 17}});
  }
  // More tokens than one token block and more rows per expert than one row block.
  Config big = small_config(DType::fp32, Activation::gelu);
  big.hidden = 16;
  big.ffn = 16;
  big.experts = 2;
  big.drop_tokens = false;
  cases.push_back({"multi-block", big, {300, 280}});
  for (const Case& k : cases) check_against_reference(k);
}

bool bitwise_equal(const HostTensor& a, const HostTensor& b) {
  return a.type() == b.type() && a.shape() == b.shape() &&
         std::equal(static_cast<const std::byte*>(a.raw()),
                    static_cast<const std::byte*>(a.raw()) + a.nbytes(),
                    static_cast<const std::byte*>(b.raw()));
}

TEST(Baseline, BitwiseIdenticalForEveryThreadCount) {
  Config c = small_config(DType::bf16, Activation::swiglu);
  c.bias = true;
  const Problem problem = make_random_problem(c, 2, {300, 123}, 7, true, 0.1, 0.1);
  const Results one = run_baseline(problem, {.workers_per_rank = 1});
  const Results three = run_baseline(problem, {.workers_per_rank = 3});
  for (std::size_t r = 0; r < one.ranks.size(); ++r) {
    const RankOutputs& a = one.ranks[r];
    const RankOutputs& b = three.ranks[r];
    for (const auto& [name, x, y] : {std::tuple{"out", &a.out, &b.out},
                                     {"dx", &a.dx, &b.dx},
                                     {"dwg", &a.dwg, &b.dwg},
                                     {"dw1", &a.dw1, &b.dw1},
                                     {"db1", &a.db1, &b.db1},
                                     {"dw2", &a.dw2, &b.dw2},
                                     {"db2", &a.db2, &b.db2}})
      EXPECT_TRUE(bitwise_equal(*x, *y)) << name << " on rank " << r;
  }
}

// The benchmark holds one BaselineLayer across passes; its buffers are reused, so a later
// pass must give exactly what a fresh layer gives (no state leaking from the previous pass).
// Every pass gets new values in x and dout (same tensors, same shapes): each pass must equal a
// fresh run on its own inputs, and differ from the pass before, so that a buffer read stale
// from an earlier pass would show.
TEST(Baseline, RepeatedPassesOfOneLayerMatchAFreshRun) {
  Config c = small_config(DType::fp32, Activation::gelu);
  c.bias = true;
  Problem problem = make_random_problem(c, 2, {70, 33}, 5, true, 0.1, 0.1);
  BaselineLayer layer(problem, {.workers_per_rank = 2});
  HostTensor previous_out;
  for (int pass = 0; pass < 3; ++pass) {
    if (pass > 0)
      for (RankInputs& in : problem.ranks)
        for (HostTensor* t : {&in.x, &in.dout})
          for (std::int64_t i = 0; i < t->numel(); ++i) t->set(i, 0.75 * t->get(i) + 0.125 * pass);
    const Results fresh = run_baseline(problem, {.workers_per_rank = 2});
    layer.forward();
    layer.backward();
    const Results& got = layer.results();
    if (pass > 0) {
      EXPECT_FALSE(bitwise_equal(got.ranks[0].out, previous_out)) << "pass " << pass;
    }
    previous_out = got.ranks[0].out;
    for (std::size_t r = 0; r < fresh.ranks.size(); ++r) {
      const RankOutputs& a = fresh.ranks[r];
      const RankOutputs& b = got.ranks[r];
      for (const auto& [name, x, y] :
           {std::tuple{"out", &a.out, &b.out},
            {"dx", &a.dx, &b.dx},
            {"dwg", &a.dwg, &b.dwg},
            {"dw1", &a.dw1, &b.dw1},
            {"db1", &a.db1, &b.db1},
            {"dw2", &a.dw2, &b.dw2},
            {"db2", &a.db2, &b.db2},
            {"topk_weight", &a.routing.topk_weight, &b.routing.topk_weight}})
        EXPECT_TRUE(bitwise_equal(*x, *y)) << name << " on rank " << r << ", pass " << pass;
      EXPECT_EQ(a.routing.accepted, b.routing.accepted) << "rank " << r << ", pass " << pass;
    }
    EXPECT_TRUE(got.seconds.count("forward") && got.seconds.count("backward"));
  }
}

TEST(Baseline, ReportsPhaseTimes) {
  const Problem problem =
      make_random_problem(small_config(DType::fp32, Activation::gelu), 2, {16, 16}, 1, true);
  const Results results = run_baseline(problem);
  for (const char* phase : {"forward", "forward.gate", "forward.dispatch", "forward.expert_gemm",
                            "forward.combine", "backward", "backward.dispatch",
                            "backward.expert_gemm", "backward.weight_gemm", "backward.combine"})
    EXPECT_TRUE(results.seconds.count(phase)) << phase;
}

TEST(Baseline, RefusesFp16) {
  const Problem problem =
      make_random_problem(small_config(DType::fp16, Activation::gelu), 1, {8}, 1, false);
  try {
    run_baseline(problem);
    ADD_FAILURE() << "fp16 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dtype"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flashmoe::bench
