// Processor work on an expert's received rows (SPEC §2.6), as tile tasks.
// expert_up: one row tile × one P-column tile of z = x·W1ᵀ (+ b1), kept in fp32/fp64 for the
//   backward, and h = act(z) (gated: act(g) ⊙ u from the matching gate and up columns) in the
//   GEMM's epilogue (gemm_activate), stored in the layer's dtype as the next GEMM's operand.
//   The last column tile of a row tile
//   schedules that row tile's expert_down tasks.
// expert_down: one row tile × one H-column tile of y = h·W2ᵀ (+ b2) into the group's staged
//   tile; members put its rows in turn back into the token's rank at its (token, slot) place
//   of the combine buffer, and the leader raises the token tile's arrival counter there once per
//   run of rows of the same tile, after a fence.
#pragma once

#include "math/activation.hpp"
#include "portable/group.hpp"
#include "runtime/scheduler.hpp"

namespace flashmoe::runtime {

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_expert_up(const RankState<T, Transport>& s, const Group& g,
                                               Task task) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t H = s.hidden(), P = s.ffn(), R = s.w1_rows();
  const auto [source, expert, first_row, rows, first_col, cols] =
      s.expert_tile(task, l.tiles.ffn_columns, P);
  const T* x_rows = s.x_packet_row(source, expert, first_row);  // [rows, H]
  const T* w1 = s.io.w1 + expert * R * H;                       // [R, H]
  const Acc* b1 = s.b1 != nullptr ? s.b1 + expert * R : nullptr;
  Acc* z = s.z_row(source, expert, first_row);  // [rows, R]

  // The gate columns' epilogue writes h, so a gated layer's up columns (rows P.. of W1) come
  // first: the epilogue multiplies by them.
  if (s.settings.gated)
    g.gemm(portable::TileGemm<T, Acc>{rows, cols, H, x_rows, H, false, w1 + (P + first_col) * H, H,
                                      true, z + P + first_col, R, false,
                                      b1 != nullptr ? b1 + P + first_col : nullptr,
                                      s.settings.allow_tf32});
  g.gemm_activate(portable::TileGemmActivation<T, Acc>{
      portable::TileGemm<T, Acc>{rows, cols, H, x_rows, H, false, w1 + first_col * H, H, true,
                                 z + first_col, R, false, b1 != nullptr ? b1 + first_col : nullptr,
                                 s.settings.allow_tf32},
      s.settings.activation, s.settings.gated, P, s.h_row(source, expert, first_row) + first_col,
      P});
  if (!g.leader()) return;
  std::uint32_t& progress = s.template own<std::uint32_t>(
      l.row_tile_progress)[l.row_tile_index(source, expert, task.tile)];
  if (portable::fetch_add_acq_rel<Scope::rank>(progress, std::uint32_t{1}) + 1 ==
      static_cast<std::uint32_t>(l.ffn_tiles)) {
    for (std::int64_t c = 0; c < l.hidden_tiles; ++c)
      schedule(s, Task{TaskKind::expert_down, task.source_rank, task.local_expert, task.tile,
                       static_cast<std::int32_t>(c)});
  }
}

// Puts `rows` staged rows (columns [first_col, first_col + cols) of each) back to the source
// rank's slot buffer at slot_offset(token, slot) — the whole group puts each row — and then the
// leader raises the source's per-token-tile counters (at counter_offset(tile)) by the number of
// rows of each tile, after a fence so the rows arrive first.
template <typename T, typename Transport, typename Group, typename SlotOffset,
          typename CounterOffset>
FLASHMOE_HOST_DEVICE inline void return_rows(const RankState<T, Transport>& s, const Group& g,
                                             std::int64_t source, std::int64_t expert,
                                             std::int64_t first_row, std::int64_t rows,
                                             std::int64_t first_col, std::int64_t cols,
                                             const accumulate_t<T>* staged, SlotOffset slot_offset,
                                             CounterOffset counter_offset) {
  using Acc = accumulate_t<T>;
  const std::int64_t k = s.top_k(), token_rows = s.layout.tiles.token_rows;
  const int dest = static_cast<int>(source);
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int32_t origin = s.origin(source, expert, first_row + i);
    s.transport.put_group(
        g, dest,
        slot_offset(origin / k, origin % k) + static_cast<std::size_t>(first_col) * sizeof(Acc),
        staged + i * cols, static_cast<std::size_t>(cols) * sizeof(Acc));
  }
  g.sync();
  if (!g.leader()) return;
  s.transport.fence();
  // Packet rows ascend in token order, so rows of one token tile are contiguous.
  std::int64_t run_tile = -1;
  std::uint64_t run_rows = 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t tile = s.origin(source, expert, first_row + i) / k / token_rows;
    if (tile != run_tile) {
      if (run_rows > 0)
        s.transport.signal(dest, counter_offset(run_tile), run_rows, portable::SignalOp::add);
      run_tile = tile;
      run_rows = 0;
    }
    ++run_rows;
  }
  if (run_rows > 0)
    s.transport.signal(dest, counter_offset(run_tile), run_rows, portable::SignalOp::add);
}

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_expert_down(const RankState<T, Transport>& s, const Group& g,
                                                 Task task, const GroupScratch<T>& scratch) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t H = s.hidden(), P = s.ffn();
  const auto [source, expert, first_row, rows, first_col, cols] =
      s.expert_tile(task, l.tiles.hidden_columns, H);
  const T* w2 = s.io.w2 + expert * H * P;  // [H, P]
  const Acc* b2 = s.b2 != nullptr ? s.b2 + expert * H + first_col : nullptr;
  Acc* y = scratch.tile;  // [rows, cols]

  g.gemm(portable::TileGemm<T, Acc>{rows, cols, P, s.h_row(source, expert, first_row), P, false,
                                    w2 + first_col * P, P, true, y, cols, false, b2,
                                    s.settings.allow_tf32});
  return_rows(
      s, g, source, expert, first_row, rows, first_col, cols, y,
      [&](std::int64_t token, std::int64_t slot) { return l.y_slot(token, slot); },
      [&](std::int64_t tile) { return l.combine_counter(tile); });
}

}  // namespace flashmoe::runtime
