// Expert side of the backward (SPEC §3), on the expert's owner, over the received dy packets.
// expert_grad_hidden: one row tile × one P-column tile of dh = dy·W2, then dz = dh ⊙ act′(z)
//   (gated: dg = dh ⊙ u ⊙ act′(g) into the gate columns, du = dh ⊙ act(g) into the up columns),
//   stored in the layer's dtype as the next GEMMs' operand. The last column tile of a row tile
//   schedules its expert_grad_input tasks; the last dz tile of an expert (after all its dy
//   packets arrived) schedules its weight_grad_up tasks.
// expert_grad_input: one row tile × one H-column tile of dx_partial = dz·W1, put back to the
//   token's rank at (token, slot) of its dx buffer, like expert_down's y rows.
// weight_grad_down / weight_grad_up: output-tiled weight gradients of one expert,
//   dW2[rows] = Σ_src dyᵀ·h and dW1[rows] = Σ_src dzᵀ·x, one GEMM per source in increasing
//   source rank into the same output tile (plus db2 / db1 row sums in the same order). Each
//   output element is written by exactly one task in a fixed order: deterministic, no atomics.
#pragma once

#include "math/activation.hpp"
#include "runtime/expert_forward.hpp"
#include "runtime/platform_interface.hpp"
#include "runtime/scheduler.hpp"

namespace flashmoe::runtime {

template <typename T>
FLASHMOE_HOST_DEVICE inline void schedule_weight_grad_up(const RankState<T>& s,
                                                         std::int64_t expert) {
  for (std::int64_t c = 0; c < s.layout.w1_row_tiles; ++c)
    schedule(s, Task{TaskKind::weight_grad_up, 0, static_cast<std::int16_t>(expert), 0,
                     static_cast<std::int32_t>(c)});
}

// One unit of an expert's open dz work is done; the unit that closes it schedules dW1.
template <typename T>
FLASHMOE_HOST_DEVICE inline void release_expert_pending(const RankState<T>& s,
                                                        std::int64_t expert) {
  std::uint32_t& pending = s.template own<std::uint32_t>(s.layout.expert_pending)[expert];
  if (platform::fetch_sub_acq_rel(pending, std::uint32_t{1}) == 1)
    schedule_weight_grad_up(s, expert);
}

template <typename T>
FLASHMOE_HOST_DEVICE inline void run_expert_grad_hidden(const RankState<T>& s, const Task& task,
                                                        const WorkerScratch<T>& scratch) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t H = s.hidden(), P = s.ffn();
  const auto [source, expert, first_row, rows, first_col, cols] =
      s.expert_tile(task, l.tiles.ffn_columns, P);
  const T* w2 = s.w2 + expert * H * P;  // [H, P]
  Acc* dh = scratch.tile;               // [rows, cols]

  tile_gemm(rows, cols, H, s.dy_packet_row(source, expert, first_row), H, false, w2 + first_col, P,
            false, dh, cols, false);
  activate_backward_tile(s.settings.activation, s.settings.gated, rows, cols,
                         s.z_row(source, expert, first_row) + first_col, s.w1_rows(), dh,
                         s.dz_row(source, expert, first_row) + first_col, s.w1_rows(), P);

  std::uint32_t& progress = s.template own<std::uint32_t>(
      l.row_tile_progress)[l.row_tile_index(source, expert, task.tile)];
  if (platform::fetch_add_acq_rel(progress, std::uint32_t{1}) + 1 ==
      static_cast<std::uint32_t>(l.ffn_tiles)) {
    for (std::int64_t c = 0; c < l.hidden_tiles; ++c)
      schedule(s, Task{TaskKind::expert_grad_input, task.source_rank, task.local_expert, task.tile,
                       static_cast<std::int32_t>(c)});
  }
  release_expert_pending(s, expert);
}

template <typename T>
FLASHMOE_HOST_DEVICE inline void run_expert_grad_input(const RankState<T>& s, const Task& task,
                                                       const WorkerScratch<T>& scratch) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t H = s.hidden(), R = s.w1_rows();
  const auto [source, expert, first_row, rows, first_col, cols] =
      s.expert_tile(task, l.tiles.hidden_columns, H);
  const T* w1 = s.w1 + expert * R * H;  // [R, H]
  Acc* dx_partial = scratch.tile;       // [rows, cols]

  tile_gemm(rows, cols, R, s.dz_row(source, expert, first_row), R, false, w1 + first_col, H, false,
            dx_partial, cols, false);
  return_rows(
      s, source, expert, first_row, rows, first_col, cols, dx_partial,
      [&](std::int64_t token, std::int64_t slot) { return l.dx_slot(token, slot); },
      [&](std::int64_t tile) { return l.dx_counter(tile); });
}

template <typename T>
FLASHMOE_HOST_DEVICE inline void run_weight_grad_down(const RankState<T>& s, const Task& task) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t H = s.hidden(), P = s.ffn(), expert = task.local_expert;
  const std::int64_t first_row = task.column * l.tiles.hidden_columns;  // rows of dW2 = H
  const std::int64_t rows =
      H - first_row < l.tiles.hidden_columns ? H - first_row : l.tiles.hidden_columns;
  // This task is the only writer of these dW2 rows and runs at every backward (every expert
  // hears from every source), so it writes them whole: the first non-empty source's product
  // overwrites, later ones add, and no rows at all mean zeros. The host need not clear dW2.
  Acc* dw2 = s.dw2 + expert * H * P + first_row * P;  // [rows, P]
  bool written = false;
  for (int source = 0; source < s.world.world_size; ++source) {
    const std::int64_t n = s.packet_rows(source, expert);
    if (n == 0) continue;
    tile_gemm(rows, P, n, s.dy_packet_row(source, expert, 0) + first_row, H, true,
              static_cast<const T*>(s.h_row(source, expert, 0)), P, false, dw2, P, written);
    written = true;
  }
  if (!written)
    for (std::int64_t i = 0; i < rows * P; ++i) dw2[i] = Acc(0);
  if (s.db2 == nullptr) return;
  for (std::int64_t h = first_row; h < first_row + rows; ++h) {
    Acc sum = Acc(0);
    for (int source = 0; source < s.world.world_size; ++source)
      for (std::int64_t i = 0; i < s.packet_rows(source, expert); ++i)
        sum += static_cast<Acc>(to_float(s.dy_packet_row(source, expert, i)[h]));
    s.db2[expert * H + h] = sum;
  }
}

template <typename T>
FLASHMOE_HOST_DEVICE inline void run_weight_grad_up(const RankState<T>& s, const Task& task) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t H = s.hidden(), R = s.w1_rows(), expert = task.local_expert;
  const std::int64_t first_row = task.column * l.tiles.ffn_columns;  // rows of dW1 = R
  const std::int64_t rows =
      R - first_row < l.tiles.ffn_columns ? R - first_row : l.tiles.ffn_columns;
  // Written whole by this task, as dW2 in run_weight_grad_down.
  Acc* dw1 = s.dw1 + expert * R * H + first_row * H;  // [rows, H]
  bool written = false;
  for (int source = 0; source < s.world.world_size; ++source) {
    const std::int64_t n = s.packet_rows(source, expert);
    if (n == 0) continue;
    tile_gemm(rows, H, n, static_cast<const T*>(s.dz_row(source, expert, 0)) + first_row, R, true,
              s.x_packet_row(source, expert, 0), H, false, dw1, H, written);
    written = true;
  }
  if (!written)
    for (std::int64_t i = 0; i < rows * H; ++i) dw1[i] = Acc(0);
  if (s.db1 == nullptr) return;
  for (std::int64_t r = first_row; r < first_row + rows; ++r) {
    Acc sum = Acc(0);
    for (int source = 0; source < s.world.world_size; ++source)
      for (std::int64_t i = 0; i < s.packet_rows(source, expert); ++i)
        sum += static_cast<Acc>(to_float(s.dz_row(source, expert, i)[r]));
    s.db1[expert * R + r] = sum;
  }
}

}  // namespace flashmoe::runtime
