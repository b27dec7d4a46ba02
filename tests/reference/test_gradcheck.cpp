// The reference's backward pass against central differences (SPEC §3), over the whole
// configuration space at tiny shapes: every activation, bias, normalisation, drops, ranks,
// k, and both auxiliary-loss gradients.
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "reference/gradcheck.hpp"
#include "reference/reference.hpp"
#include "support/error_message.hpp"
#include "support/tiny_config.hpp"

namespace flashmoe::reference {
namespace {

using test::tiny_config;

struct Case {
  std::string name;
  Config config;
  int world_size = 2;
  std::vector<std::int64_t> tokens{5, 3};
  double d_aux = 0.3;
  double d_z = 0.2;
  std::uint64_t seed = 11;
};

void PrintTo(const Case& c, std::ostream* out) {
  *out << c.name;
}

Config with(Config c, auto&& change) {
  change(c);
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> list;
  // Every activation, bias on, normalised weights, drops possible, two uneven ranks.
  for (Activation a : {Activation::relu, Activation::gelu, Activation::gelu_tanh, Activation::silu,
                       Activation::identity, Activation::swiglu, Activation::geglu}) {
    list.push_back({std::string(to_string(a)) + "_bias",
                    with(tiny_config(a), [](Config& c) { c.bias = true; })});
    list.push_back({std::string(to_string(a)) + "_nobias_unnormalized",
                    with(tiny_config(a), [](Config& c) { c.normalize_weights = false; })});
  }
  list.push_back({"gelu_dropless", with(tiny_config(), [](Config& c) { c.drop_tokens = false; })});
  list.push_back({"swiglu_heavy_drops", with(tiny_config(Activation::swiglu), [](Config& c) {
                    c.capacity_factor = 0.5;
                    c.bias = true;
                  })});
  list.push_back(
      {"silu_k1_normalized", with(tiny_config(Activation::silu), [](Config& c) { c.top_k = 1; })});
  list.push_back({"silu_k1_unnormalized", with(tiny_config(Activation::silu), [](Config& c) {
                    c.top_k = 1;
                    c.normalize_weights = false;
                  })});
  list.push_back({"geglu_k3", with(tiny_config(Activation::geglu), [](Config& c) {
                    c.top_k = 3;
                    c.bias = true;
                  })});
  list.push_back(
      {"gelu_tanh_k3_unnormalized_drops", with(tiny_config(Activation::gelu_tanh), [](Config& c) {
         c.top_k = 3;
         c.normalize_weights = false;
         c.capacity_factor = 0.75;
       })});
  list.push_back(
      {"relu_k_equals_e", with(tiny_config(Activation::relu), [](Config& c) { c.top_k = 4; })});
  Case one_rank{"gelu_one_rank", tiny_config()};
  one_rank.world_size = 1;
  one_rank.tokens = {6};
  list.push_back(one_rank);
  Case empty_rank{"silu_empty_rank",
                  with(tiny_config(Activation::silu), [](Config& c) { c.bias = true; })};
  empty_rank.tokens = {0, 4};
  list.push_back(empty_rank);
  Case four_ranks{"swiglu_four_ranks", with(tiny_config(Activation::swiglu), [](Config& c) {
                    c.experts = 8;
                    c.top_k = 3;
                  })};
  four_ranks.world_size = 4;
  four_ranks.tokens = {3, 1, 2, 4};
  list.push_back(four_ranks);
  Case no_losses{"identity_no_loss_gradients", tiny_config(Activation::identity)};
  no_losses.d_aux = 0.0;
  no_losses.d_z = 0.0;
  list.push_back(no_losses);
  Case only_losses{"gelu_large_loss_gradients", tiny_config()};
  only_losses.d_aux = 2.5;
  only_losses.d_z = -1.5;
  list.push_back(only_losses);
  return list;
}

class Gradcheck : public testing::TestWithParam<Case> {};

TEST_P(Gradcheck, AnalyticMatchesCentralDifferences) {
  const Case& c = GetParam();
  GradcheckOptions options;
  options.config = c.config;
  options.world_size = c.world_size;
  options.tokens_per_rank = c.tokens;
  options.seed = c.seed;
  options.d_aux = c.d_aux;
  options.d_z = c.d_z;
  const GradcheckReport report = gradcheck(options);
  EXPECT_TRUE(report.passed) << format_report(report);
  EXPECT_LE(report.max_error, 1e-6) << format_report(report);
  // Every element of every gradient was compared (or skipped at relu's kink, counted).
  const Config& k = c.config;
  std::int64_t tokens = 0;
  for (std::int64_t s : c.tokens) tokens += s;
  std::int64_t expected = tokens * k.hidden + k.experts * k.hidden +
                          k.experts * k.w1_rows() * k.hidden + k.experts * k.hidden * k.ffn;
  if (k.bias) expected += k.experts * (k.w1_rows() + k.hidden);
  EXPECT_EQ(report.checked + report.skipped, expected);
  EXPECT_LE(report.skipped, expected / 20) << format_report(report);
  // The gradients are not trivially zero (a check of zeros against zeros proves nothing).
  for (const TensorGradcheck& t : report.tensors) {
    const bool gate_gradient_vanishes =
        t.tensor == "wg" && k.top_k == 1 && k.normalize_weights && c.d_aux == 0 && c.d_z == 0;
    if (!gate_gradient_vanishes) {
      EXPECT_GT(t.numeric_norm, 1e-3) << t.tensor;
    }
  }
}

std::string case_name(const testing::TestParamInfo<Case>& param_info) {
  return param_info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Reference, Gradcheck, testing::ValuesIn(cases()), case_name);

// The configurations meant to drop really do drop, so the checks above cover dropped slots.
TEST(GradcheckCoverage, DropCasesDropSlots) {
  for (const Case& c : cases()) {
    if (c.name.find("drops") == std::string::npos) continue;
    const Problem p = make_random_problem(c.config, c.world_size, c.tokens, c.seed, false);
    const Results results = run(p, Precision::fp64);
    std::int64_t dropped = 0;
    for (const RankOutputs& out : results.ranks)
      for (std::int64_t i = 0; i < out.routing.kept.numel(); ++i)
        dropped += out.routing.kept.get(i) == 0.0 ? 1 : 0;
    EXPECT_GT(dropped, 0) << c.name;
  }
}

// With k = 1 and normalised weights w ≡ 1: the gate gets no gradient from the output.
TEST(GradcheckCoverage, KOneNormalizedHasZeroGateGradient) {
  Config c = tiny_config(Activation::silu);
  c.top_k = 1;
  GradcheckOptions options;
  options.config = c;
  options.world_size = 2;
  options.tokens_per_rank = {4, 4};
  const GradcheckReport report = gradcheck(options);
  EXPECT_TRUE(report.passed) << format_report(report);
  for (const TensorGradcheck& t : report.tensors)
    if (t.tensor == "wg") {
      EXPECT_EQ(t.analytic_norm, 0.0);
      EXPECT_LT(t.numeric_norm, 1e-8);
    }
}

// relu with a large step: a perturbation that crosses the kink is skipped and counted. With
// k = 1, normalised weights and no auxiliary losses the loss is piecewise linear in each
// element, so every compared difference is exact and the tolerance stays 1e-6 even at this step;
// without the skip, the kink crossings would fail it.
TEST(GradcheckCoverage, ReluKinkCrossingsAreSkippedAndReported) {
  Config c = tiny_config(Activation::relu);
  c.top_k = 1;
  c.bias = true;
  GradcheckOptions options;
  options.config = c;
  options.world_size = 2;
  options.tokens_per_rank = {6, 6};
  options.step = 0.1;
  const GradcheckReport report = gradcheck(options);
  EXPECT_GT(report.skipped, 0) << format_report(report);
  EXPECT_TRUE(report.passed) << format_report(report);
  test::expect_contains(format_report(report), "skipped");
}

// The checker can fail: a step far too coarse for a curved activation breaks the agreement.
TEST(GradcheckCoverage, CoarseStepFails) {
  GradcheckOptions options;
  options.config = tiny_config(Activation::gelu);
  options.world_size = 1;
  options.tokens_per_rank = {4};
  options.step = 0.5;
  const GradcheckReport report = gradcheck(options);
  EXPECT_FALSE(report.passed);
  EXPECT_GT(report.max_error, 1e-4);
  const std::string text = format_report(report);
  test::expect_contains(text, "FAIL");
  ASSERT_FALSE(report.tensors.empty());
  EXPECT_FALSE(report.tensors[0].worst.empty());
}

TEST(GradcheckReport, ListsTensorsWorstEntriesAndVerdict) {
  GradcheckOptions options;
  options.config = tiny_config(Activation::swiglu);
  options.config.bias = true;
  options.world_size = 2;
  options.tokens_per_rank = {3, 2};
  options.worst_entries = 2;
  const GradcheckReport report = gradcheck(options);
  ASSERT_EQ(report.tensors.size(), 6u);
  const char* names[] = {"x", "wg", "w1", "b1", "w2", "b2"};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(report.tensors[i].tensor, names[i]);
    EXPECT_EQ(report.tensors[i].worst.size(), 2u);
  }
  // Worst entries are ordered by |analytic − numeric| and carry a multi-index of the right rank.
  const TensorGradcheck& w1 = report.tensors[2];
  EXPECT_GE(std::abs(w1.worst[0].analytic - w1.worst[0].numeric),
            std::abs(w1.worst[1].analytic - w1.worst[1].numeric));
  EXPECT_EQ(w1.worst[0].position.size(), 3u);
  EXPECT_EQ(report.evaluations, 2 * report.checked);
  EXPECT_EQ(report.options.config.dtype, DType::fp64);
  const std::string text = format_report(report);
  for (const char* name : names) test::expect_contains(text, std::string("  ") + name + " ");
  test::expect_contains(text, "PASS");
  test::expect_contains(text, "activation=swiglu");
}

TEST(GradcheckOptions, InvalidInputsAreRefused) {
  GradcheckOptions options;
  options.config = tiny_config();
  options.world_size = 3;  // 4 experts over 3 ranks
  options.tokens_per_rank = {1, 1, 1};
  test::expect_contains(test::error_message([&] { gradcheck(options); }), "divisible");
  options.world_size = 1;
  options.tokens_per_rank = {2};
  options.step = 0.0;
  test::expect_contains(test::error_message([&] { gradcheck(options); }), "step");
}

}  // namespace
}  // namespace flashmoe::reference
