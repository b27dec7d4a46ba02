// Combine actor (SPEC §2.7): once every returned row block of a token tile has arrived (the
// subscriber checked the tile's counter), out[t] = Σ_{j=0}^{k−1} [kept]·w[t,j]·y[t][j], summed
// in increasing j in fp32 (fp64 for fp64 layers) and rounded to the layer's dtype. Members take
// tokens in turn; no atomics on values: the order is fixed whoever runs the tile.
#pragma once

#include "portable/group.hpp"
#include "runtime/rank_state.hpp"

namespace flashmoe::runtime {

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_combine_tile(const RankState<T, Transport>& s, const Group& g,
                                                  std::int64_t tile) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t H = s.hidden(), k = s.top_k();
  const TileSpan tokens = s.token_tile(tile);
  const std::uint8_t* kept = s.template own<std::uint8_t>(l.kept);  // [S, k]
  const Acc* weight = s.template own<Acc>(l.topk_weight);           // [S, k]
  portable::for_my_share(g, tokens.first, tokens.first + tokens.count, [&](std::int64_t t) {
    Acc* out = s.io.out + t * H;
    for (std::int64_t h = 0; h < H; ++h) out[h] = Acc(0);
    for (std::int64_t j = 0; j < k; ++j) {
      if (kept[t * k + j] == 0) continue;
      const Acc w = weight[t * k + j];
      const Acc* y = s.template received<Acc>(l.y_slot(t, j));  // [H]
      for (std::int64_t h = 0; h < H; ++h) out[h] += w * y[h];
    }
    for (std::int64_t h = 0; h < H; ++h) out[h] = static_cast<Acc>(to_float(from_float<T>(out[h])));
  });
  g.sync();
}

}  // namespace flashmoe::runtime
