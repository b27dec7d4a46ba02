// Gate actor (SPEC §2.1–2.5). gate_tile: for one token tile, logits = x·wgᵀ by the tile GEMM,
// softmax, top-k and routing weights per token, and the tile's slot count per expert. route:
// once every gate tile is done (a rank-local dependency), the exclusive prefix of the counts
// over tiles in token order gives each tile its first packet row per expert — the parallel form
// of math::assign_slots — plus the per-expert totals, the capacity cut and the losses.
#pragma once

#include "math/softmax.hpp"
#include "math/topk.hpp"
#include "runtime/platform_interface.hpp"
#include "runtime/scheduler.hpp"

namespace flashmoe::runtime {

template <typename T>
FLASHMOE_HOST_DEVICE inline void run_gate_tile(const RankState<T>& s, std::int64_t tile) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t E = s.experts(), H = s.hidden(), k = s.top_k();
  const TileSpan tokens = s.token_tile(tile);
  const std::int64_t first = tokens.first, last = tokens.first + tokens.count;
  Acc* logits = s.template own<Acc>(l.logits);                                    // [S, E]
  Acc* probs = s.template own<Acc>(l.probs);                                      // [S, E]
  Acc* lse = s.template own<Acc>(l.lse);                                          // [S]
  std::int32_t* topk_index = s.template own<std::int32_t>(l.topk_index);          // [S, k]
  Acc* topk_weight = s.template own<Acc>(l.topk_weight);                          // [S, k]
  std::int32_t* counts = s.template own<std::int32_t>(l.tile_counts) + tile * E;  // [E]

  tile_gemm(last - first, E, H, s.x + first * H, H, false, s.wg, H, true, logits + first * E, E,
            false);
  for (std::int64_t e = 0; e < E; ++e) counts[e] = 0;
  for (std::int64_t t = first; t < last; ++t) {
    lse[t] = math::softmax_row(logits + t * E, probs + t * E, E);
    Acc chosen[16] = {};  // k ≤ 16 (SPEC §1)
    math::topk_row(probs + t * E, E, static_cast<std::int32_t>(k), topk_index + t * k, chosen);
    Acc chosen_sum = Acc(0);  // Σ_{i<k} p[t, e_i] in increasing i
    for (std::int64_t j = 0; j < k; ++j) chosen_sum += chosen[j];
    for (std::int64_t j = 0; j < k; ++j) {
      topk_weight[t * k + j] = s.settings.normalize_weights ? chosen[j] / chosen_sum : chosen[j];
      ++counts[topk_index[t * k + j]];
    }
  }
  // The last gate tile to finish routes the rank: acq_rel makes every tile's counts visible.
  const std::uint64_t done =
      platform::fetch_add_acq_rel(s.control().token_tiles_done, std::uint64_t{1}) + 1;
  if (done == static_cast<std::uint64_t>(s.active_token_tiles)) schedule(s, Task{TaskKind::route});
}

template <typename T>
FLASHMOE_HOST_DEVICE inline void signal_dispatch_packets(const RankState<T>& s);

template <typename T>
FLASHMOE_HOST_DEVICE inline void run_route(const RankState<T>& s) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t E = s.experts(), k = s.top_k(), S = s.tokens;
  const std::int32_t* counts = s.template own<std::int32_t>(l.tile_counts);  // [tiles, E]
  std::int32_t* cursor = s.template own<std::int32_t>(l.tile_cursor);        // [tiles, E]
  std::int64_t* routed = s.template own<std::int64_t>(l.routed);             // [E]
  std::int64_t* accepted = s.template own<std::int64_t>(l.accepted);         // [E]
  for (std::int64_t e = 0; e < E; ++e) {
    std::int32_t before = 0;  // slots for e in tiles before this one (token order)
    for (std::int64_t g = 0; g < s.active_token_tiles; ++g) {
      cursor[g * E + e] = before;
      before += counts[g * E + e];
    }
    routed[e] = before;
    accepted[e] = before < s.capacity ? before : s.capacity;
  }

  // Losses (SPEC §2.8) in a fixed order; a rank without tokens reports 0.
  RankControl& c = s.control();
  c.aux_loss = 0.0;
  c.z_loss = 0.0;
  if (S > 0) {
    const Acc* probs = s.template own<Acc>(l.probs);
    const Acc* lse = s.template own<Acc>(l.lse);
    Acc aux = Acc(0);
    for (std::int64_t e = 0; e < E; ++e) {
      const Acc fraction = static_cast<Acc>(routed[e]) / static_cast<Acc>(S * k);
      Acc mean_prob = Acc(0);
      for (std::int64_t t = 0; t < S; ++t) mean_prob += probs[t * E + e];
      mean_prob /= static_cast<Acc>(S);
      aux += fraction * mean_prob;
    }
    Acc z = Acc(0);
    for (std::int64_t t = 0; t < S; ++t) z += lse[t] * lse[t];
    c.aux_loss = static_cast<double>(static_cast<Acc>(E) * aux);
    c.z_loss = static_cast<double>(z / static_cast<Acc>(S));
  }

  if (s.active_token_tiles == 0) {
    signal_dispatch_packets(s);  // every packet from this rank is empty, but still announced
    return;
  }
  for (std::int64_t g = 0; g < s.active_token_tiles; ++g)
    schedule(s, Task{TaskKind::dispatch_tile, 0, 0, static_cast<std::int32_t>(g), 0});
}

}  // namespace flashmoe::runtime
