// Gate actor (SPEC §2.1–2.5). gate_tile: for one token tile, logits = x·wgᵀ by the group's tile
// GEMM, then per token (members take tokens in turn) softmax, top-k and routing weights, then
// per expert (members take experts in turn) the tile's slot count. route: once every gate tile
// is done (a rank-local dependency), the exclusive prefix of the counts over tiles in token
// order gives each tile its first packet row per expert — the parallel form of
// math::assign_slots — plus the per-expert totals, the capacity cut and the losses. Every
// value is computed exactly as a lone thread would compute it, so results do not depend on the
// group size.
#pragma once

#include "math/softmax.hpp"
#include "math/topk.hpp"
#include "portable/group.hpp"
#include "runtime/scheduler.hpp"

namespace flashmoe::runtime {

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_gate_tile(const RankState<T, Transport>& s, const Group& g,
                                               std::int64_t tile) {
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

  g.gemm(portable::TileGemm<T, Acc>{last - first, E, H, s.io.x + first * H, H, false, s.io.wg, H,
                                    true, logits + first * E, E, false, nullptr});
  portable::for_my_share(g, first, last, [&](std::int64_t t) {
    lse[t] = math::softmax_row(logits + t * E, probs + t * E, E);
    // The chosen probabilities go straight into the row's weights, normalised there in place
    // (no per-thread array: on the GPU it would be local memory).
    Acc* weight = topk_weight + t * k;
    math::topk_row(probs + t * E, E, static_cast<std::int32_t>(k), topk_index + t * k, weight);
    if (s.settings.normalize_weights) {
      Acc chosen_sum = Acc(0);  // Σ_{i<k} p[t, e_i] in increasing i
      for (std::int64_t j = 0; j < k; ++j) chosen_sum += weight[j];
      for (std::int64_t j = 0; j < k; ++j) weight[j] = weight[j] / chosen_sum;
    }
  });
  g.sync();
  portable::for_my_share(g, 0, E, [&](std::int64_t e) {
    std::int32_t count = 0;
    for (std::int64_t i = first * k; i < last * k; ++i) count += topk_index[i] == e ? 1 : 0;
    counts[e] = count;
  });
  g.sync();
  // The last gate tile to finish routes the rank: acq_rel makes every tile's counts visible.
  if (!g.leader()) return;
  const std::uint64_t done =
      portable::fetch_add_acq_rel<Scope::rank>(s.control().token_tiles_done, std::uint64_t{1}) + 1;
  if (done == static_cast<std::uint64_t>(s.active_token_tiles)) schedule(s, Task{TaskKind::route});
}

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE inline void signal_dispatch_packets(const RankState<T, Transport>& s,
                                                         const Group& g);

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_route(const RankState<T, Transport>& s, const Group& g,
                                           const GroupScratch<T>& scratch) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t E = s.experts(), k = s.top_k(), S = s.tokens;
  const std::int32_t* counts = s.template own<std::int32_t>(l.tile_counts);  // [tiles, E]
  std::int32_t* cursor = s.template own<std::int32_t>(l.tile_cursor);        // [tiles, E]
  std::int64_t* routed = s.template own<std::int64_t>(l.routed);             // [E]
  std::int64_t* accepted = s.template own<std::int64_t>(l.accepted);         // [E]
  const Acc* probs = s.template own<Acc>(l.probs);
  Acc* aux_term = scratch.partials;  // [E]: f_e · P̄_e, summed below in expert order
  portable::for_my_share(g, 0, E, [&](std::int64_t e) {
    std::int32_t before = 0;  // slots for e in tiles before this one (token order)
    for (std::int64_t t = 0; t < s.active_token_tiles; ++t) {
      cursor[t * E + e] = before;
      before += counts[t * E + e];
    }
    routed[e] = before;
    accepted[e] = before < s.capacity ? before : s.capacity;
    if (S > 0) {
      const Acc fraction = static_cast<Acc>(routed[e]) / static_cast<Acc>(S * k);
      Acc mean_prob = Acc(0);
      for (std::int64_t t = 0; t < S; ++t) mean_prob += probs[t * E + e];
      mean_prob /= static_cast<Acc>(S);
      aux_term[e] = fraction * mean_prob;
    }
  });
  g.sync();

  // Losses (SPEC §2.8) in a fixed order, by the leader; a rank without tokens reports 0.
  if (g.leader()) {
    RankControl& c = s.control();
    c.aux_loss = 0.0;
    c.z_loss = 0.0;
    if (S > 0) {
      const Acc* lse = s.template own<Acc>(l.lse);
      Acc aux = Acc(0);
      for (std::int64_t e = 0; e < E; ++e) aux += aux_term[e];
      Acc z = Acc(0);
      for (std::int64_t t = 0; t < S; ++t) z += lse[t] * lse[t];
      c.aux_loss = static_cast<double>(static_cast<Acc>(E) * aux);
      c.z_loss = static_cast<double>(z / static_cast<Acc>(S));
    }
  }
  if (s.active_token_tiles == 0) {
    signal_dispatch_packets(s, g);  // every packet from this rank is empty, but still announced
    return;
  }
  if (!g.leader()) return;
  for (std::int64_t t = 0; t < s.active_token_tiles; ++t)
    schedule(s, Task{TaskKind::dispatch_tile, 0, 0, static_cast<std::int32_t>(t), 0});
}

}  // namespace flashmoe::runtime
