// SPEC §5: bitwise-identical results run to run and for any worker count; several layers (each
// with its own context) coexist in one process; repeated passes on one layer reuse the
// buffers without stale signals leaking in.
#include <gtest/gtest.h>

#include "engine_test_support.hpp"
#include "support/results_compare.hpp"

namespace flashmoe {
namespace {

using engine_test::small_config;
using engine_test::small_tiles;
using test::expect_bitwise_equal;

Problem problem_for(DType dtype, Activation activation, std::uint64_t seed) {
  Config c = small_config(dtype, activation, 8, 2);
  c.bias = true;
  return make_random_problem(c, 4, {7, 0, 65, 129}, seed, true, 0.3, 0.2);
}

TEST(EngineDeterminism, TwoRunsAreBitwiseEqual) {
  for (const DType dtype : {DType::fp32, DType::bf16}) {
    const Problem problem = problem_for(dtype, Activation::swiglu, 3);
    const Results first = engine::run_in_process(problem, small_tiles(2));
    const Results second = engine::run_in_process(problem, small_tiles(2));
    expect_bitwise_equal(first, second, std::string(to_string(dtype)));
  }
}

TEST(EngineDeterminism, WorkerCountsGiveTheSameBits) {
  for (const DType dtype : {DType::fp32, DType::bf16, DType::fp64}) {
    const Problem problem = problem_for(dtype, Activation::gelu, 9);
    const Results one = engine::run_in_process(problem, small_tiles(1));
    for (const int workers : {2, 3}) {
      expect_bitwise_equal(one, engine::run_in_process(problem, small_tiles(workers)),
                           std::string(to_string(dtype)) + " workers=" + std::to_string(workers));
    }
  }
}

TEST(EngineDeterminism, TwoLayersCoexistAndRepeatedPassesAgree) {
  const Problem a = problem_for(DType::fp32, Activation::relu, 11);
  Config other = small_config(DType::bf16, Activation::geglu, 4, 3);
  other.hidden = 48;
  const Problem b = make_random_problem(other, 2, {50, 3}, 12, true, 0.1, 0.0);
  const Results expected_a = engine::run_in_process(a, small_tiles(2));
  const Results expected_b = engine::run_in_process(b, small_tiles(2));

  engine::Layer layer_a(a, small_tiles(2));
  engine::Layer layer_b(b, small_tiles(3));
  layer_a.forward();
  layer_b.forward();
  layer_a.forward();  // a second forward on the same buffers: epoch-tagged signals
  layer_a.backward();
  layer_b.backward();
  expect_bitwise_equal(layer_a.results(), expected_a, "layer a");
  expect_bitwise_equal(layer_b.results(), expected_b, "layer b");
  layer_b.forward();
  layer_b.backward();  // forward → backward → forward → backward on one layer
  expect_bitwise_equal(layer_b.results(), expected_b, "layer b again");
}

}  // namespace
}  // namespace flashmoe

namespace flashmoe {
namespace {

// A second forward with new inputs on the same buffers must not pick up the first pass's
// packets: its dispatch signals are still in place, and only their epoch tells them apart.
TEST(EngineDeterminism, AStalePassNeverLeaksIntoTheNext) {
  for (const DType dtype : {DType::fp32, DType::bf16}) {
    Problem problem = problem_for(dtype, Activation::silu, 21);
    const Problem fresh = problem_for(dtype, Activation::silu, 22);  // same shapes, new values
    const Results expected = engine::run_in_process(fresh, engine_test::small_tiles(2));
    engine::Layer layer(problem, engine_test::small_tiles(2));
    layer.forward();
    layer.backward();
    problem.wg = fresh.wg;
    problem.ranks = fresh.ranks;  // same storage layout: the layer reads through `problem`
    layer.forward();
    layer.backward();
    expect_bitwise_equal(layer.results(), expected, std::string(to_string(dtype)));
  }
}

}  // namespace
}  // namespace flashmoe
