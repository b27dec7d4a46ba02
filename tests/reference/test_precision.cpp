// Precision (SPEC §4): the fp32 reference against the fp64 one, exact widening of 16-bit inputs,
// result types, and the timing record.
#include <gtest/gtest.h>

#include "reference/reference.hpp"
#include "support/error_message.hpp"
#include "support/results_compare.hpp"
#include "support/tensor_compare.hpp"
#include "support/tiny_config.hpp"

namespace flashmoe::reference {
namespace {

using test::routing_of;

TEST(Precision, Fp32MatchesFp64WithinSpecTolerance) {
  for (Activation a : {Activation::gelu, Activation::swiglu}) {
    const Config c{.hidden = 64,
                   .ffn = 48,
                   .experts = 8,
                   .top_k = 2,
                   .activation = a,
                   .bias = true,
                   .dtype = DType::fp64};
    const Problem p = make_random_problem(c, 2, {40, 24}, 17, true, 0.1, 0.05);
    const Results wide = run(p, Precision::fp64);
    // Replay the fp64 routing: a near-tie decided differently in fp32 is not an error (SPEC §4).
    const RoutingOverride routing = routing_of(wide);
    const Results narrow = run(p, Precision::fp32, &routing);
    for (std::size_t r = 0; r < 2; ++r) {
      const RankOutputs &n = narrow.ranks[r], &w = wide.ranks[r];
      EXPECT_EQ(n.out.type(), ElementType::f32);
      EXPECT_EQ(n.dw1.type(), ElementType::f32);
      EXPECT_EQ(n.routing.topk_weight.type(), ElementType::f32);
      EXPECT_EQ(w.out.type(), ElementType::f64);
      const std::pair<const char*, std::pair<const HostTensor*, const HostTensor*>> tensors[] = {
          {"out", {&n.out, &w.out}}, {"dx", {&n.dx, &w.dx}},    {"dwg", {&n.dwg, &w.dwg}},
          {"dw1", {&n.dw1, &w.dw1}}, {"db1", {&n.db1, &w.db1}}, {"dw2", {&n.dw2, &w.dw2}},
          {"db2", {&n.db2, &w.db2}}};
      for (const auto& [name, pair] : tensors) {
        const double error = test::relative_l2(*pair.first, *pair.second);
        EXPECT_LE(error, 1e-5) << to_string(a) << " rank " << r << " " << name;
        EXPECT_GT(error, 0.0) << name << ": fp32 is not really computed in fp32";
      }
      EXPECT_NEAR(n.aux_loss, w.aux_loss, 1e-5 * w.aux_loss);
      EXPECT_NEAR(n.z_loss, w.z_loss, 1e-5 * w.z_loss);
    }
    // Without the replay the fp32 routing agrees here too (no near-ties at this seed).
    const Results own = run(p, Precision::fp32);
    for (std::size_t r = 0; r < 2; ++r)
      EXPECT_TRUE(
          test::bitwise_equal(own.ranks[r].routing.topk_index, wide.ranks[r].routing.topk_index));
  }
}

TEST(Precision, SixteenBitInputsAreWidenedExactly) {
  // A bf16 (or fp16) problem gives the same fp64 results as the fp64 problem holding the same,
  // already rounded values: widening adds no error and the reference never computes in 16 bits.
  for (DType d : {DType::bf16, DType::fp16, DType::fp32}) {
    Config c = test::tiny_config(Activation::geglu);
    c.bias = true;
    c.dtype = d;
    const Problem narrow = make_random_problem(c, 2, {5, 3}, 4, true, 0.2, 0.1);
    Problem wide = narrow;
    wide.config.dtype = DType::fp64;
    wide.wg = narrow.wg.to(ElementType::f64);
    for (RankInputs& in : wide.ranks)
      for (HostTensor* t : {&in.x, &in.w1, &in.b1, &in.w2, &in.b2, &in.dout})
        *t = t->to(ElementType::f64);
    const Results a = run(narrow, Precision::fp64), b = run(wide, Precision::fp64);
    for (std::size_t r = 0; r < 2; ++r) {
      EXPECT_TRUE(test::bitwise_equal(a.ranks[r].out, b.ranks[r].out)) << to_string(d);
      EXPECT_TRUE(test::bitwise_equal(a.ranks[r].dx, b.ranks[r].dx)) << to_string(d);
      EXPECT_TRUE(test::bitwise_equal(a.ranks[r].dw1, b.ranks[r].dw1)) << to_string(d);
      EXPECT_TRUE(test::bitwise_equal(a.ranks[r].db2, b.ranks[r].db2)) << to_string(d);
    }
  }
}

TEST(Precision, MismatchedStorageIsRefused) {
  // Tensors must be stored in the layer's dtype: validate_problem runs first.
  Config c = test::tiny_config();
  Problem p = make_random_problem(c, 1, {3}, 1, false);
  p.ranks[0].x = p.ranks[0].x.to(ElementType::f32);
  test::expect_contains(test::error_message([&] { run(p, Precision::fp64); }), "tensor x (rank 0)");
}

TEST(Precision, ResultsRecordTimingsAndShapes) {
  Config c = test::tiny_config(Activation::relu);
  c.bias = false;
  const Problem p = make_random_problem(c, 2, {3, 2}, 1, true);
  const Results r = run(p, Precision::fp64);
  ASSERT_EQ(r.seconds.count("forward"), 1u);
  ASSERT_EQ(r.seconds.count("backward"), 1u);
  EXPECT_GE(r.seconds.at("forward"), 0.0);
  const RankOutputs& out = r.ranks[1];
  EXPECT_EQ(out.out.shape(), (Shape{2, 6}));
  EXPECT_EQ(out.routing.topk_index.type(), ElementType::i32);
  EXPECT_EQ(out.routing.kept.type(), ElementType::u8);
  EXPECT_EQ(out.dwg.shape(), (Shape{4, 6}));
  EXPECT_EQ(out.dw1.shape(), (Shape{2, 5, 6}));
  EXPECT_EQ(out.dw2.shape(), (Shape{2, 6, 5}));
  EXPECT_FALSE(out.db1.defined());
  EXPECT_FALSE(out.db2.defined());

  Problem forward_only = p;
  forward_only.backward = false;
  const Results f = run(forward_only, Precision::fp32);
  EXPECT_EQ(f.seconds.count("backward"), 0u);
  EXPECT_FALSE(f.ranks[0].dx.defined());
}

}  // namespace
}  // namespace flashmoe::reference
