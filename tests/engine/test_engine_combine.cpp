// Combine order (SPEC §2.7): out[t] = Σ_j [slot j kept]·w[t,j]·y_{e_j}(x_t), summed in
// increasing j. The returned y rows stay in the rank's symmetric buffer after a forward, so the
// test sums them itself in that order and requires the engine's out bit for bit; a tolerance
// against the reference could not tell one order from another.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "engine_test_support.hpp"

namespace flashmoe {
namespace {

// Σ over the kept slots of token t, in the order `slots` lists them, in fp32 as the engine's
// fp32 layer accumulates.
std::vector<float> combined(const engine::Layer& layer, const Routing& routing, int rank,
                            std::int64_t t, std::int64_t k, std::int64_t H,
                            const std::vector<std::int64_t>& slots) {
  std::vector<float> out(static_cast<std::size_t>(H), 0.0f);
  for (const std::int64_t j : slots) {
    if (routing.kept.data<std::uint8_t>()[static_cast<std::size_t>(t * k + j)] == 0) continue;
    const float w = routing.topk_weight.data<float>()[static_cast<std::size_t>(t * k + j)];
    std::vector<float> y(static_cast<std::size_t>(H));
    std::memcpy(y.data(), layer.symmetric_buffer(rank) + layer.layout().y_slot(t, j),
                static_cast<std::size_t>(H) * sizeof(float));
    for (std::int64_t h = 0; h < H; ++h)
      out[static_cast<std::size_t>(h)] += w * y[static_cast<std::size_t>(h)];
  }
  return out;
}

TEST(EngineCombine, SumsTheSlotsInIncreasingOrder) {
  Config c = engine_test::small_config(DType::fp32, Activation::gelu, 8, 4);
  c.capacity_factor = 1.0;  // some slots dropped, so skipped slots are exercised too
  const Problem problem = make_random_problem(c, 2, {65, 40}, 19, false);
  engine::Layer layer(problem, engine_test::small_tiles(2));
  layer.forward();
  const std::int64_t H = c.hidden, k = c.top_k;
  std::int64_t order_matters = 0;  // tokens whose reversed sum differs: the test's power
  for (int r = 0; r < problem.world_size; ++r) {
    const RankOutputs& result = layer.results().ranks[static_cast<std::size_t>(r)];
    for (std::int64_t t = 0; t < problem.tokens(r); ++t) {
      const std::vector<float> increasing =
          combined(layer, result.routing, r, t, k, H, {0, 1, 2, 3});
      const std::vector<float> decreasing =
          combined(layer, result.routing, r, t, k, H, {3, 2, 1, 0});
      order_matters += increasing != decreasing ? 1 : 0;
      EXPECT_EQ(std::memcmp(result.out.data<float>().data() + t * H, increasing.data(),
                            static_cast<std::size_t>(H) * sizeof(float)),
                0)
          << "rank " << r << " token " << t << ": out is not the kept slots summed in order";
    }
  }
  EXPECT_GT(order_matters, 10) << "too few tokens where the order changes the bits";
}

}  // namespace
}  // namespace flashmoe
