// Gate side of the backward (SPEC §3), on the token's rank.
// gate_gradient_tile: per token (members take tokens in turn), r[t,j] = ⟨dout[t], y[t][j]⟩ from
//   the y rows the forward left in the combine buffer, dp through the weight normalisation, the
//   load-balance term, the softmax and the z-loss into dlogits; and the expert path's input,
//   dy = w[t,j]·dout[t] in the layer's dtype, staged in the member's own row and put into the
//   owner's dy buffer at the slot's forward packet row (the same place its x row went, so the
//   owner pairs them without any index exchange). bf16 layers also widen the tile's x rows for
//   the dwg GEMM here.
// announce_gradients: the last gate-gradient tile's follow-on; after a fence, one signal per dy
//   packet (row count = the forward's), then the dwg column tiles.
// gate_weight_grad: dwg[:, cols] = dlogitsᵀ·x over all tokens, one GEMM per column tile.
// input_grad_tile: dx[t] = Σ_j dx_partial[t][j] (increasing j, fp32/fp64) + (dlogits·wg)[t].
#pragma once

#include <type_traits>

#include "portable/group.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/signal_word.hpp"
#include "runtime/tile_span.hpp"

namespace flashmoe::runtime {

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_gate_gradient_tile(const RankState<T, Transport>& s,
                                                        const Group& g, std::int64_t tile,
                                                        const GroupScratch<T>& scratch) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t E = s.experts(), H = s.hidden(), k = s.top_k(), L = s.local_experts();
  const std::int64_t S = s.tokens;
  const TileSpan tokens = s.token_tile(tile);
  const Acc* probs = s.template own<Acc>(l.probs);                              // [S, E]
  const Acc* lse = s.template own<Acc>(l.lse);                                  // [S]
  const std::int32_t* topk_index = s.template own<std::int32_t>(l.topk_index);  // [S, k]
  const Acc* weight = s.template own<Acc>(l.topk_weight);                       // [S, k]
  const std::uint8_t* kept = s.template own<std::uint8_t>(l.kept);              // [S, k]
  const std::int32_t* position = s.template own<std::int32_t>(l.position);      // [S, k]
  const std::int64_t* routed = s.template own<std::int64_t>(l.routed);          // [E]
  Acc* dlogits = s.template own<Acc>(l.dlogits);                                // [S, E]
  T* dy_row = scratch.rows + g.rank() * H;                                      // [H]
  const Acc d_aux = static_cast<Acc>(s.d_aux), d_z = static_cast<Acc>(s.d_z);

  portable::for_my_share(g, tokens.first, tokens.first + tokens.count, [&](std::int64_t t) {
    const T* dout = s.io.dout + t * H;        // [H]
    if constexpr (!std::is_same_v<T, Acc>) {  // x widened for gate_weight_grad's GEMM
      Acc* x_acc = s.template own<Acc>(l.x_acc) + t * H;
      for (std::int64_t h = 0; h < H; ++h) x_acc[h] = static_cast<Acc>(to_float(s.io.x[t * H + h]));
    }
    Acc* dp = dlogits + t * E;              // [E]: dp first, then turned into dlogits in place
    for (std::int64_t e = 0; e < E; ++e) {  // load-balance term: d_aux·E·f_e / S
      const Acc fraction = static_cast<Acc>(routed[e]) / static_cast<Acc>(S * k);
      dp[e] = d_aux * static_cast<Acc>(E) * fraction / static_cast<Acc>(S);
    }
    // [k]: r[t, j] for kept slots, 0 for dropped ones (in the workspace, not in a per-thread
    // array: on the GPU that would be local memory)
    Acc* dweight = s.template own<Acc>(l.slot_grad) + t * k;
    for (std::int64_t j = 0; j < k; ++j) {
      dweight[j] = Acc(0);
      if (kept[t * k + j] == 0) continue;
      const Acc* y = s.template received<Acc>(l.y_slot(t, j));  // [H]
      Acc r = Acc(0);
      for (std::int64_t h = 0; h < H; ++h) r += static_cast<Acc>(to_float(dout[h])) * y[h];
      dweight[j] = r;

      const Acc w = weight[t * k + j];
      for (std::int64_t h = 0; h < H; ++h)
        dy_row[h] = from_float<T>(w * static_cast<Acc>(to_float(dout[h])));
      const std::int32_t e = topk_index[t * k + j];
      s.transport.put(static_cast<int>(e / L), l.dy_row(s.rank, e % L, position[t * k + j]), dy_row,
                      static_cast<std::size_t>(H) * sizeof(T));
    }
    if (s.settings.normalize_weights) {
      Acc chosen_sum = Acc(0), weighted = Acc(0);
      for (std::int64_t i = 0; i < k; ++i) chosen_sum += probs[t * E + topk_index[t * k + i]];
      for (std::int64_t i = 0; i < k; ++i) weighted += dweight[i] * weight[t * k + i];
      for (std::int64_t j = 0; j < k; ++j)
        dp[topk_index[t * k + j]] += (dweight[j] - weighted) / chosen_sum;
    } else {
      for (std::int64_t j = 0; j < k; ++j) dp[topk_index[t * k + j]] += dweight[j];
    }
    const Acc* p = probs + t * E;
    Acc expected_dp = Acc(0);  // Σ_m p[t, m]·dp[t, m]
    for (std::int64_t e = 0; e < E; ++e) expected_dp += p[e] * dp[e];
    const Acc z_scale = d_z * Acc(2) / static_cast<Acc>(S) * lse[t];
    for (std::int64_t e = 0; e < E; ++e) {
      dp[e] = p[e] * (dp[e] - expected_dp);
      dp[e] += z_scale * p[e];
    }
  });
  g.sync();
  if (!g.leader()) return;
  portable::store_release<Scope::rank>(s.template own<std::uint32_t>(l.tile_gate_grad)[tile],
                                       s.epoch);
  const std::uint64_t done =
      portable::fetch_add_acq_rel<Scope::rank>(s.control().token_tiles_done, std::uint64_t{1}) + 1;
  if (done == static_cast<std::uint64_t>(s.active_token_tiles))
    schedule(s, Task{TaskKind::announce_gradients});
}

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_announce_gradients(const RankState<T, Transport>& s,
                                                        const Group& g) {
  using Acc = accumulate_t<T>;
  const std::int64_t L = s.local_experts(), E = s.experts(), H = s.hidden();
  if (s.tokens == 0) {  // no gate_weight_grad tasks: this rank's dwg contribution is zero
    portable::for_my_share(g, 0, E * H, [&](std::int64_t i) { s.io.dwg[i] = Acc(0); });
    g.sync();
  }
  if (!g.leader()) return;
  const std::int64_t* accepted = s.template own<std::int64_t>(s.layout.accepted);
  s.transport.fence();  // every gate-gradient tile's dy rows before their packets' signals
  for (std::int64_t e = 0; e < E; ++e)
    s.transport.signal(static_cast<int>(e / L), s.layout.packet_signal(s.epoch, s.rank, e % L),
                       encode_signal(s.epoch, static_cast<std::uint32_t>(accepted[e])),
                       portable::SignalOp::set);
  if (s.tokens == 0) return;
  for (std::int64_t c = 0; c < s.layout.hidden_tiles; ++c)
    schedule(s, Task{TaskKind::gate_weight_grad, 0, 0, 0, static_cast<std::int32_t>(c)});
}

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_gate_weight_grad(const RankState<T, Transport>& s,
                                                      const Group& g, std::int64_t column) {
  using Acc = accumulate_t<T>;
  const std::int64_t E = s.experts(), H = s.hidden();
  const TileSpan cols = tile_span(column, s.layout.tiles.hidden_columns, H);
  const Acc* dlogits = s.template own<Acc>(s.layout.dlogits);  // [S, E]
  g.gemm(portable::TileGemm<Acc, Acc>{E, cols.count, s.tokens, dlogits, E, true,
                                      s.x_acc + cols.first, H, false, s.io.dwg + cols.first, H,
                                      false, nullptr});
}

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_input_grad_tile(const RankState<T, Transport>& s,
                                                     const Group& g, std::int64_t tile,
                                                     const GroupScratch<T>& scratch) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t E = s.experts(), H = s.hidden(), k = s.top_k();
  const TileSpan tokens = s.token_tile(tile);
  const std::int64_t first = tokens.first, last = tokens.first + tokens.count;
  const std::uint8_t* kept = s.template own<std::uint8_t>(l.kept);  // [S, k]
  const Acc* dlogits = s.template own<Acc>(l.dlogits);              // [S, E]
  Acc* gate_dx = scratch.tile;                                      // [rows, H]
  g.gemm(portable::TileGemm<Acc, Acc>{last - first, H, E, dlogits + first * E, E, false, s.wg_acc,
                                      H, false, gate_dx, H, false, nullptr});
  portable::for_my_share(g, first, last, [&](std::int64_t t) {
    Acc* dx = s.io.dx + t * H;
    for (std::int64_t h = 0; h < H; ++h) dx[h] = Acc(0);
    for (std::int64_t j = 0; j < k; ++j) {
      if (kept[t * k + j] == 0) continue;
      const Acc* partial = s.template received<Acc>(l.dx_slot(t, j));  // [H]
      for (std::int64_t h = 0; h < H; ++h) dx[h] += partial[h];
    }
    const Acc* gate_row = gate_dx + (t - first) * H;
    for (std::int64_t h = 0; h < H; ++h)
      dx[h] = static_cast<Acc>(to_float(from_float<T>(dx[h] + gate_row[h])));
  });
  g.sync();
}

}  // namespace flashmoe::runtime
