// Data movement is exact: x rows encode (source rank, token), and with identity weights the
// expert is an exact copy (y = x, dx partial = dy), so every received row, every returned row
// and every dy / dx row must land bitwise at the place its (source, token, slot) owns.
#include <gtest/gtest.h>

#include <cstring>

#include "engine_test_support.hpp"
#include "math/capacity.hpp"

namespace flashmoe {
namespace {

TEST(EngineProvenance, EveryRowLandsWhereItBelongs) {
  const int W = 4;
  const std::vector<std::int64_t> tokens{7, 0, 65, 129};
  Config c = engine_test::small_config(DType::fp32, Activation::identity, 8, 3);
  c.ffn = c.hidden;  // square identity experts
  c.capacity_factor = 1.0;
  const std::int64_t H = c.hidden, k = c.top_k, E = c.experts, L = E / W;
  Problem problem = make_random_problem(c, W, tokens, 7, true);
  // x values reach ~3000: a small gate keeps every routing weight well above 0 (so dy ≠ ±0).
  for (std::int64_t i = 0; i < problem.wg.numel(); ++i) problem.wg.set(i, problem.wg.get(i) * 1e-3);
  for (int r = 0; r < W; ++r) {
    RankInputs& in = problem.ranks[static_cast<std::size_t>(r)];
    for (std::int64_t t = 0; t < in.x.dim(0); ++t)
      for (std::int64_t h = 0; h < H; ++h)  // exact in fp32: provenance in the value
        in.x.set(t * H + h, 1000.0 * r + t + static_cast<double>(h) / 64.0);
    for (std::int64_t l = 0; l < L; ++l)
      for (std::int64_t i = 0; i < H; ++i)
        for (std::int64_t j = 0; j < H; ++j) {
          in.w1.set((l * H + i) * H + j, i == j ? 1.0 : 0.0);
          in.w2.set((l * H + i) * H + j, i == j ? 1.0 : 0.0);
        }
  }
  engine::Layer layer(problem, engine_test::small_tiles(2));
  layer.forward();
  const Results& results = layer.results();
  const runtime::WorkspaceLayout& layout = layer.layout();
  const std::int64_t parity = 0;  // received x rows of the layer's first forward (number 0)

  std::int64_t rows_checked = 0;
  const auto check_rows = [&](bool backward) {
    for (int source = 0; source < W; ++source) {
      const RankInputs& in = problem.ranks[static_cast<std::size_t>(source)];
      const Routing& routing = results.ranks[static_cast<std::size_t>(source)].routing;
      const std::int64_t S = tokens[static_cast<std::size_t>(source)];
      // Packet rows per the SPEC's sequential slot assignment of the engine's own routing.
      std::vector<std::uint8_t> kept(static_cast<std::size_t>(S * k));
      std::vector<std::int32_t> position(static_cast<std::size_t>(S * k));
      std::vector<std::int64_t> routed(static_cast<std::size_t>(E)), accepted(routed);
      const std::int64_t capacity =
          math::expert_capacity(S, k, E, c.capacity_factor, c.drop_tokens);
      math::assign_slots(routing.topk_index.data<std::int32_t>().data(), S, k, E, capacity,
                         kept.data(), position.data(), routed.data(), accepted.data());
      const std::byte* own = layer.symmetric_buffer(source);
      for (std::int64_t t = 0; t < S; ++t) {
        for (std::int64_t j = 0; j < k; ++j) {
          const std::size_t slot = static_cast<std::size_t>(t * k + j);
          ASSERT_EQ(kept[slot], routing.kept.data<std::uint8_t>()[slot]);
          if (kept[slot] == 0) continue;
          const std::int64_t e = routing.topk_index.data<std::int32_t>()[slot];
          const std::byte* owner = layer.symmetric_buffer(static_cast<int>(e / L));
          const std::int64_t l = e % L, row = position[slot];
          const float* x = in.x.data<float>().data() + t * H;
          if (!backward) {
            EXPECT_EQ(
                std::memcmp(owner + layout.x_row(parity, source, l, row), x, H * sizeof(float)), 0)
                << "x row of rank " << source << " token " << t << " slot " << j;
            std::int32_t origin = 0;
            std::memcpy(&origin, owner + layout.row_origin(parity, source, l, row), sizeof(origin));
            EXPECT_EQ(origin, t * k + j) << "origin of rank " << source << " token " << t;
            EXPECT_EQ(std::memcmp(own + layout.y_slot(t, j), x, H * sizeof(float)), 0)
                << "returned y of rank " << source << " token " << t << " slot " << j;
          } else {
            const float w = routing.topk_weight.data<float>()[slot];
            std::vector<float> dy(static_cast<std::size_t>(H));
            for (std::int64_t h = 0; h < H; ++h) dy[h] = w * in.dout.data<float>()[t * H + h];
            EXPECT_EQ(
                std::memcmp(owner + layout.dy_row(source, l, row), dy.data(), H * sizeof(float)), 0)
                << "dy row of rank " << source << " token " << t << " slot " << j;
            const float* dx = reinterpret_cast<const float*>(own + layout.dx_slot(t, j));
            EXPECT_EQ(std::memcmp(dx, dy.data(), H * sizeof(float)), 0)
                << "returned dx of rank " << source << " token " << t << " slot " << j << ": "
                << dx[0] << " " << dx[1] << " vs " << dy[0] << " " << dy[1];
          }
          ++rows_checked;
        }
      }
    }
  };
  check_rows(false);
  layer.backward();
  check_rows(true);
  EXPECT_GT(rows_checked, 2 * 150);
}

}  // namespace
}  // namespace flashmoe
