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
//   source rank into the same output tile (plus db2 / db1 row sums in the same order, members
//   taking rows in turn). Each output element is written by exactly one task in a fixed order:
//   deterministic, no atomics.
#pragma once

#include "math/activation.hpp"
#include "portable/group.hpp"
#include "runtime/expert_forward.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/tile_span.hpp"

namespace flashmoe::runtime {

template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline void schedule_weight_grad_up(const RankState<T, Transport>& s,
                                                         std::int64_t expert) {
  for (std::int64_t c = 0; c < s.layout.dw1_row_tiles; ++c)
    schedule(s, Task{TaskKind::weight_grad_up, 0, static_cast<std::int16_t>(expert), 0,
                     static_cast<std::int32_t>(c)});
}

// One unit of an expert's open dz work is done; the unit that closes it schedules dW1.
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline void release_expert_pending(const RankState<T, Transport>& s,
                                                        std::int64_t expert) {
  std::uint32_t& pending = s.template own<std::uint32_t>(s.layout.expert_pending)[expert];
  if (portable::fetch_sub_acq_rel<Scope::rank>(pending, std::uint32_t{1}) == 1)
    schedule_weight_grad_up(s, expert);
}

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_expert_grad_hidden(const RankState<T, Transport>& s,
                                                        const Group& g, Task task,
                                                        const GroupScratch<T>& scratch) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  Acc* dh = scratch.tile;  // [rows, cols]
  {
    const std::int64_t H = s.hidden(), P = s.ffn();
    const auto [source, expert, first_row, rows, first_col, cols] =
        s.expert_tile(task, l.tiles.ffn_columns, P);
    const T* w2 = s.io.w2 + expert * H * P;  // [H, P]
    g.gemm(portable::TileGemm<T, Acc>{rows, cols, H, s.dy_packet_row(source, expert, first_row), H,
                                      false, w2 + first_col, P, false, dh, cols, false, nullptr,
                                      s.settings.allow_tf32});
  }
  // The tile's coordinates again rather than held across the GEMM's call, which may use every
  // register on the GPU (fp64): values kept across it are spilled to local memory.
  const auto [source, expert, first_row, rows, first_col, cols] =
      s.expert_tile(task, l.tiles.ffn_columns, s.ffn());
  g.activate_backward(portable::TileActivationBackward<T, Acc>{
      s.settings.activation, s.settings.gated, rows, cols,
      s.z_row(source, expert, first_row) + first_col, s.w1_rows(), s.ffn(), dh,
      s.dz_row(source, expert, first_row) + first_col, s.w1_rows()});
  if (!g.leader()) return;
  std::uint32_t& progress = s.template own<std::uint32_t>(
      l.row_tile_progress)[l.row_tile_index(source, expert, task.tile)];
  if (portable::fetch_add_acq_rel<Scope::rank>(progress, std::uint32_t{1}) + 1 ==
      static_cast<std::uint32_t>(l.ffn_tiles)) {
    for (std::int64_t c = 0; c < l.hidden_tiles; ++c)
      schedule(s, Task{TaskKind::expert_grad_input, task.source_rank, task.local_expert, task.tile,
                       static_cast<std::int32_t>(c)});
  }
  release_expert_pending(s, expert);
}

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_expert_grad_input(const RankState<T, Transport>& s,
                                                       const Group& g, Task task,
                                                       const GroupScratch<T>& scratch) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  Acc* dx_partial = scratch.tile;  // [rows, cols]
  {
    const std::int64_t H = s.hidden(), R = s.w1_rows();
    const auto [source, expert, first_row, rows, first_col, cols] =
        s.expert_tile(task, l.tiles.hidden_columns, H);
    const T* w1 = s.io.w1 + expert * R * H;  // [R, H]
    g.gemm(portable::TileGemm<T, Acc>{rows, cols, R, s.dz_row(source, expert, first_row), R, false,
                                      w1 + first_col, H, false, dx_partial, cols, false, nullptr,
                                      s.settings.allow_tf32});
  }
  // Recomputed after the GEMM, as in run_expert_grad_hidden.
  const auto [source, expert, first_row, rows, first_col, cols] =
      s.expert_tile(task, l.tiles.hidden_columns, s.hidden());
  return_rows(
      s, g, source, expert, first_row, rows, first_col, cols, dx_partial,
      [&](std::int64_t token, std::int64_t slot) { return l.dx_slot(token, slot); },
      [&](std::int64_t tile) { return l.dx_counter(tile); });
}

// Rows `rows` of one expert's weight gradient dW = Σ_src gradᵀ·input (dW2: grad = dy,
// input = h; dW1: grad = dz, input = x), and the same rows of db = Σ_src Σ_i grad[i] when
// `bias_grad` is not null. grad(source, i) / input(source, i) are packet row i from `source`:
// grad_width elements (one per row of dW) / input_width elements (one per column of dW); a
// packet's rows are contiguous, as the GEMM reads them. weight_grad is the expert's
// [grad_width, input_width] block, bias_grad its [grad_width] one.
//
// The calling task is the only writer of these rows and runs at every backward (every expert
// hears from every source), so they are written whole: one GEMM per source in increasing source
// rank, the first non-empty source's product overwrites, later ones add, and no rows at all mean
// zeros. Nothing needs clearing first. db sums in the same fixed order, one row per member.
template <typename T, typename Transport, typename Group, typename GradRow, typename InputRow>
FLASHMOE_HOST_DEVICE inline void write_weight_grad_rows(
    const RankState<T, Transport>& s, const Group& g, std::int64_t expert, TileSpan rows,
    GradRow grad, std::int64_t grad_width, InputRow input, std::int64_t input_width,
    accumulate_t<T>* weight_grad, accumulate_t<T>* bias_grad) {
  using Acc = accumulate_t<T>;
  Acc* out = weight_grad + rows.first * input_width;  // [rows.count, input_width]
  bool written = false;
  for (int source = 0; source < s.world_size(); ++source) {
    const std::int64_t n = s.packet_rows(source, expert);
    if (n == 0) continue;
    g.gemm(portable::TileGemm<T, Acc>{rows.count, input_width, n, grad(source, 0) + rows.first,
                                      grad_width, true, input(source, 0), input_width, false, out,
                                      input_width, written, nullptr, s.settings.allow_tf32});
    written = true;
  }
  if (!written)
    portable::for_my_share(g, 0, rows.count * input_width,
                           [&](std::int64_t i) { out[i] = Acc(0); });
  if (bias_grad != nullptr) {
    portable::for_my_share(g, rows.first, rows.first + rows.count, [&](std::int64_t r) {
      Acc sum = Acc(0);
      for (int source = 0; source < s.world_size(); ++source)
        for (std::int64_t i = 0; i < s.packet_rows(source, expert); ++i)
          sum += static_cast<Acc>(to_float(grad(source, i)[r]));
      bias_grad[r] = sum;
    });
  }
  g.sync();
}

// dW2 [H, P] = Σ_src dyᵀ·h: the rows of the task's H-column tile, and db2 [H].
template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_weight_grad_down(const RankState<T, Transport>& s,
                                                      const Group& g, Task task) {
  const std::int64_t H = s.hidden(), P = s.ffn(), expert = task.local_expert;
  const auto dy = [&](std::int64_t source, std::int64_t i) {
    return s.dy_packet_row(source, expert, i);
  };
  const auto h = [&](std::int64_t source, std::int64_t i) -> const T* {
    return s.h_row(source, expert, i);
  };
  write_weight_grad_rows(s, g, expert, tile_span(task.column, s.layout.tiles.weight_rows, H), dy, H,
                         h, P, s.io.dw2 + expert * H * P,
                         s.io.db2 != nullptr ? s.io.db2 + expert * H : nullptr);
}

// dW1 [R, H] = Σ_src dzᵀ·x: the rows of the task's row tile (R = P, or 2P gated), and db1 [R].
template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_weight_grad_up(const RankState<T, Transport>& s,
                                                    const Group& g, Task task) {
  const std::int64_t H = s.hidden(), R = s.w1_rows(), expert = task.local_expert;
  const auto dz = [&](std::int64_t source, std::int64_t i) -> const T* {
    return s.dz_row(source, expert, i);
  };
  const auto x = [&](std::int64_t source, std::int64_t i) {
    return s.x_packet_row(source, expert, i);
  };
  write_weight_grad_rows(s, g, expert, tile_span(task.column, s.layout.tiles.weight_rows, R), dz, R,
                         x, H, s.io.dw1 + expert * R * H,
                         s.io.db1 != nullptr ? s.io.db1 + expert * R : nullptr);
}

}  // namespace flashmoe::runtime
