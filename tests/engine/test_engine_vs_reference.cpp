// Engine vs the fp64 reference with the engine's routing replayed (SPEC §4 tolerances), forward
// and backward, over activations, dtypes, bias, normalisation, drop/dropless and world sizes
// with uneven tokens per rank; every case also checks the routing decision itself against the
// SPEC's (kept flags, counts, top-k away from near-ties, weights and, with bias, the losses).
#include <gtest/gtest.h>

#include <tuple>

#include "engine_test_support.hpp"

namespace flashmoe {
namespace {

using engine_test::expect_matches_reference;
using engine_test::small_config;
using engine_test::small_tiles;

struct WorldCase {
  int world_size;
  std::int64_t experts;
  std::vector<std::int64_t> tokens;
};

const WorldCase kWorlds[] = {
    {1, 4, {65}},
    {2, 4, {33, 20}},
    {4, 8, {7, 0, 65, 129}},
};

using Params = std::tuple<DType, Activation, int /*world case*/>;

class EngineVsReference : public ::testing::TestWithParam<Params> {};

TEST_P(EngineVsReference, ForwardAndBackward) {
  const auto [dtype, activation, world_index] = GetParam();
  const WorldCase& world = kWorlds[world_index];
  int variant = 0;
  for (const bool bias : {false, true}) {
    for (const bool drop : {true, false}) {
      Config c = small_config(dtype, activation, world.experts, 2);
      c.bias = bias;
      c.drop_tokens = drop;
      c.normalize_weights = (variant++ % 3) != 1;
      c.capacity_factor = 1.0;
      c.aux_loss = c.z_loss = bias;  // the routing check compares enabled losses with the SPEC's
      const Problem problem = make_random_problem(c, world.world_size, world.tokens,
                                                  /*seed=*/17 + variant, /*backward=*/true,
                                                  /*d_aux=*/0.25, /*d_z=*/0.125);
      const Results results = engine::run_in_process(problem, small_tiles(2));
      expect_matches_reference(problem, results,
                               std::string("bias=") + (bias ? "1" : "0") +
                                   " drop=" + (drop ? "1" : "0") +
                                   " normalize=" + (c.normalize_weights ? "1" : "0"));
    }
  }
}

std::string name_of(const ::testing::TestParamInfo<Params>& info) {
  const auto [dtype, activation, world_index] = info.param;
  return std::string(to_string(dtype)) + "_" + std::string(to_string(activation)) + "_W" +
         std::to_string(kWorlds[world_index].world_size);
}

INSTANTIATE_TEST_SUITE_P(
    AllActivations, EngineVsReference,
    ::testing::Combine(::testing::Values(DType::fp64, DType::fp32, DType::bf16),
                       ::testing::Values(Activation::relu, Activation::gelu, Activation::gelu_tanh,
                                         Activation::silu, Activation::identity, Activation::swiglu,
                                         Activation::geglu),
                       ::testing::Values(0, 1, 2)),
    name_of);

TEST(EngineErrors, RefusesFp16) {
  Config c = small_config(DType::fp16, Activation::relu, 4, 2);
  const Problem problem = make_random_problem(c, 1, {5}, 1, false);
  try {
    engine::run_in_process(problem);
    FAIL() << "fp16 was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("fp16"), std::string::npos) << error.what();
  }
}

TEST(EngineErrors, BackwardNeedsForward) {
  Config c = small_config(DType::fp32, Activation::relu, 4, 2);
  const Problem problem = make_random_problem(c, 1, {5}, 1, true);
  engine::Layer layer(problem);
  EXPECT_THROW(layer.backward(), Error);
}

}  // namespace
}  // namespace flashmoe
