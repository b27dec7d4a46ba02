// WorkspaceLayout: ONE description, computed from the layer shape and the world size, that both
// sizes every buffer of a rank (host, at set-up) and indexes it (every actor, on either target).
// Two areas:
//   symmetric — the same byte layout on every rank; peers put rows and raise signals into it;
//   private   — this rank's own bookkeeping and saved activations; no peer touches it.
// Every region starts on a 64-byte boundary and no two regions overlap (tested).
#pragma once

#include <cstddef>
#include <cstdint>

#include "flashmoe/macros.hpp"
#include "runtime/task.hpp"
#include "runtime/tile_shape.hpp"

namespace flashmoe::runtime {

struct Region {
  std::size_t offset = 0;
  std::size_t bytes = 0;
  FLASHMOE_HOST_DEVICE std::size_t end() const { return offset + bytes; }
};

// The sizes that define a layout; all plain numbers so the struct is usable on the device.
struct LayerShape {
  int world_size = 1;
  std::int64_t experts = 1;          // E
  std::int64_t local_experts = 1;    // L = E / W
  std::int64_t top_k = 1;            // k
  std::int64_t hidden = 1;           // H
  std::int64_t ffn = 1;              // P
  std::int64_t w1_rows = 1;          // P, or 2P for gated activations
  std::int64_t max_tokens = 1;       // per-rank token bound
  std::int64_t packet_capacity = 1;  // rows bound of one packet: C_r at S_r = max_tokens (≥ C_r)
  std::size_t storage_bytes = 4;     // element size of x, weights, h, dy, dz (the layer's dtype)
  std::size_t accumulate_bytes = 4;  // element size of z, y, dx partials, gradients (fp32/fp64)
};

// Control words of one rank's pass, in its private area. Counters and flags are accessed only
// through platform atomics; the loss values are written by one task and read after the pass.
struct RankControl {
  std::uint64_t queue_head;
  std::uint64_t queue_tail;
  std::uint64_t pending_tasks;          // pushed and not yet finished (incl. their follow-ons)
  std::uint64_t token_tiles_done;       // gate tiles (forward) / gate-gradient tiles (backward)
  std::uint64_t dispatch_tiles_done;    // forward dispatch tiles that put their rows
  std::uint64_t subscriber_lock;        // 1 while a worker plays the subscriber
  std::uint64_t subscriber_done;        // 1 once every expected arrival was turned into a task
  std::uint64_t last_progress_ns;       // steady clock of the latest finished task
  std::uint64_t packets_seen;           // subscriber-only
  std::uint64_t token_tiles_scheduled;  // subscriber-only
  double aux_loss;
  double z_loss;
};

struct WorkspaceLayout {
  LayerShape shape;
  TileShape tiles;
  std::int64_t token_tiles = 0;        // ceil(max_tokens / token_rows)
  std::int64_t packet_row_tiles = 0;   // ceil(packet_capacity / expert_rows), per packet
  std::int64_t ffn_tiles = 0;          // ceil(P / ffn_columns)
  std::int64_t dw1_row_tiles = 0;      // ceil(w1_rows / weight_rows): dW1 tasks per expert
  std::int64_t dw2_row_tiles = 0;      // ceil(H / weight_rows): dW2 tasks per expert
  std::int64_t hidden_tiles = 0;       // ceil(H / hidden_columns)
  std::int64_t task_capacity = 0;      // worst-case tasks of one pass (the queue never wraps)
  std::size_t scratch_bytes = 0;       // per worker: one staged tile (acc) + one row (storage)
  std::size_t scratch_row_offset = 0;  // where the storage row starts in a worker's scratch

  // ---- symmetric area -----------------------------------------------------------------------
  Region dispatch_signals;  // u64 [W src][L]: epoch << 32 | rows of the x packet
  Region gradient_signals;  // u64 [W src][L]: epoch << 32 | rows of the dy packet
  Region combine_counters;  // u64 [token tiles]: y row blocks returned (forward)
  Region dx_counters;       // u64 [token tiles]: dx row blocks returned (backward)
  Region row_origins;       // i32 [W src][L][packet_capacity]: token·k + slot of each packet row
  Region x_rows;            // storage [W src][L][packet_capacity][H]: received x packets
  Region dy_rows;           // storage [W src][L][packet_capacity][H]: received dy packets
  Region y_slots;           // accumulate [max_tokens][k][H]: returned expert outputs y
  Region dx_slots;          // accumulate [max_tokens][k][H]: returned dx partial rows
  std::size_t symmetric_bytes = 0;

  // ---- private area -------------------------------------------------------------------------
  Region control;              // RankControl
  Region logits;               // accumulate [max_tokens][E]
  Region probs;                // accumulate [max_tokens][E]
  Region lse;                  // accumulate [max_tokens]
  Region dlogits;              // accumulate [max_tokens][E]
  Region topk_index;           // i32 [max_tokens][k]
  Region topk_weight;          // accumulate [max_tokens][k]
  Region kept;                 // u8 [max_tokens][k]
  Region position;             // i32 [max_tokens][k]: packet row, −1 when dropped
  Region tile_counts;          // i32 [token tiles][E]: slots per expert in each tile
  Region tile_cursor;          // i32 [token tiles][E]: exclusive prefix, then the tile's cursor
  Region routed;               // i64 [E]: tokens per expert before capacity
  Region accepted;             // i64 [E]: packet rows per expert after capacity
  Region tile_expected;        // u64 [token tiles]: row blocks the tile waits for
  Region tile_routed;          // u32 [token tiles]: epoch once the tile's kept flags are final
  Region tile_gate_grad;       // u32 [token tiles]: epoch once the tile's dlogits are final
  Region tile_scheduled;       // u8 [token tiles]: subscriber-only
  Region packet_rows;          // i64 [W src][L]: rows of each received packet
  Region packet_seen;          // u8 [W src][L]: subscriber-only
  Region expert_packets_seen;  // u32 [L]: subscriber-only
  Region expert_pending;       // u32 [L]: open dz tiles (+1 until all dy packets arrived)
  Region row_tile_progress;    // u32 [W src][L][packet row tiles]: column tiles finished
  Region z;                    // accumulate [W src][L][packet_capacity][w1_rows]: pre-activations
  Region h;                    // storage [W src][L][packet_capacity][P]: activations
  Region dz;                   // storage [W src][L][packet_capacity][w1_rows]: gradient at z
  Region queue_slots;          // Task [task_capacity]
  Region queue_published;      // u32 [task_capacity]
  std::size_t private_bytes = 0;

  FLASHMOE_HOST_DEVICE static WorkspaceLayout compute(const LayerShape& shape,
                                                      const TileShape& tiles);

  // ---- indexing (byte offsets inside the area that holds the region) --------------------------
  FLASHMOE_HOST_DEVICE std::int64_t packet_index(std::int64_t source_rank,
                                                 std::int64_t local_expert) const {
    return source_rank * shape.local_experts + local_expert;
  }
  FLASHMOE_HOST_DEVICE std::size_t dispatch_signal(std::int64_t source_rank,
                                                   std::int64_t local_expert) const {
    return dispatch_signals.offset + 8 * idx(packet_index(source_rank, local_expert));
  }
  FLASHMOE_HOST_DEVICE std::size_t gradient_signal(std::int64_t source_rank,
                                                   std::int64_t local_expert) const {
    return gradient_signals.offset + 8 * idx(packet_index(source_rank, local_expert));
  }
  FLASHMOE_HOST_DEVICE std::size_t combine_counter(std::int64_t token_tile) const {
    return combine_counters.offset + 8 * idx(token_tile);
  }
  FLASHMOE_HOST_DEVICE std::size_t dx_counter(std::int64_t token_tile) const {
    return dx_counters.offset + 8 * idx(token_tile);
  }
  FLASHMOE_HOST_DEVICE std::size_t packet_row(std::int64_t source_rank, std::int64_t local_expert,
                                              std::int64_t row) const {
    return idx(packet_index(source_rank, local_expert) * shape.packet_capacity + row);
  }
  FLASHMOE_HOST_DEVICE std::size_t row_origin(std::int64_t source_rank, std::int64_t local_expert,
                                              std::int64_t row) const {
    return row_origins.offset + 4 * packet_row(source_rank, local_expert, row);
  }
  FLASHMOE_HOST_DEVICE std::size_t x_row(std::int64_t source_rank, std::int64_t local_expert,
                                         std::int64_t row) const {
    return x_rows.offset +
           packet_row(source_rank, local_expert, row) * idx(shape.hidden) * shape.storage_bytes;
  }
  FLASHMOE_HOST_DEVICE std::size_t dy_row(std::int64_t source_rank, std::int64_t local_expert,
                                          std::int64_t row) const {
    return dy_rows.offset +
           packet_row(source_rank, local_expert, row) * idx(shape.hidden) * shape.storage_bytes;
  }
  FLASHMOE_HOST_DEVICE std::size_t y_slot(std::int64_t token, std::int64_t slot) const {
    return y_slots.offset +
           idx(token * shape.top_k + slot) * idx(shape.hidden) * shape.accumulate_bytes;
  }
  FLASHMOE_HOST_DEVICE std::size_t dx_slot(std::int64_t token, std::int64_t slot) const {
    return dx_slots.offset +
           idx(token * shape.top_k + slot) * idx(shape.hidden) * shape.accumulate_bytes;
  }
  FLASHMOE_HOST_DEVICE std::int64_t row_tile_index(std::int64_t source_rank,
                                                   std::int64_t local_expert,
                                                   std::int64_t row_tile) const {
    return packet_index(source_rank, local_expert) * packet_row_tiles + row_tile;
  }

 private:
  FLASHMOE_HOST_DEVICE static std::size_t idx(std::int64_t i) {
    return static_cast<std::size_t>(i);
  }
};

namespace layout_detail {
FLASHMOE_HOST_DEVICE inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}
FLASHMOE_HOST_DEVICE inline std::int64_t min_of(std::int64_t a, std::int64_t b) {
  return a < b ? a : b;
}
FLASHMOE_HOST_DEVICE inline std::int64_t max_of(std::int64_t a, std::int64_t b) {
  return a > b ? a : b;
}
// Appends a region of `bytes` at the next 64-byte boundary of an area whose end is `cursor`.
FLASHMOE_HOST_DEVICE inline Region append(std::size_t& cursor, std::size_t bytes) {
  const std::size_t start = (cursor + 63) / 64 * 64;
  cursor = start + bytes;
  return {start, bytes};
}
}  // namespace layout_detail

FLASHMOE_HOST_DEVICE inline WorkspaceLayout WorkspaceLayout::compute(const LayerShape& shape,
                                                                     const TileShape& tiles) {
  using layout_detail::append;
  using layout_detail::ceil_div;
  WorkspaceLayout l;
  l.shape = shape;
  l.tiles = tiles;
  const std::int64_t W = shape.world_size, L = shape.local_experts, E = shape.experts;
  const std::int64_t k = shape.top_k, H = shape.hidden, P = shape.ffn, R = shape.w1_rows;
  const std::int64_t T = shape.max_tokens, C = shape.packet_capacity;
  const std::size_t s = shape.storage_bytes, a = shape.accumulate_bytes;
  l.token_tiles = ceil_div(T, tiles.token_rows);
  l.packet_row_tiles = ceil_div(C, tiles.expert_rows);
  l.ffn_tiles = ceil_div(P, tiles.ffn_columns);
  l.dw1_row_tiles = ceil_div(R, tiles.weight_rows);
  l.dw2_row_tiles = ceil_div(H, tiles.weight_rows);
  l.hidden_tiles = ceil_div(H, tiles.hidden_columns);

  // Row tiles over every packet of a pass: a packet holds at most C rows; each source sends at
  // most min(k, L)·T rows over its L packets, and each packet adds at most one partial tile.
  const std::int64_t row_tiles =
      layout_detail::min_of(W * L * l.packet_row_tiles,
                            W * (ceil_div(T * layout_detail::min_of(k, L), tiles.expert_rows) + L));
  const std::int64_t G = l.token_tiles;
  const std::int64_t forward_tasks = G /*gate*/ + 1 /*route*/ + G /*dispatch*/ +
                                     row_tiles * (l.ffn_tiles + l.hidden_tiles) + G /*combine*/;
  const std::int64_t backward_tasks = G /*gate gradient*/ + 1 /*announce*/ +
                                      l.hidden_tiles /*dwg*/ +
                                      row_tiles * (l.ffn_tiles + l.hidden_tiles) +
                                      L * (l.dw2_row_tiles + l.dw1_row_tiles) + G /*dx combine*/;
  l.task_capacity = layout_detail::max_of(forward_tasks, backward_tasks);
  const std::int64_t staged_tile = layout_detail::max_of(
      tiles.expert_rows * layout_detail::max_of(tiles.ffn_columns, tiles.hidden_columns),
      tiles.token_rows * H);
  l.scratch_row_offset = (static_cast<std::size_t>(staged_tile) * a + 63) / 64 * 64;
  l.scratch_bytes = l.scratch_row_offset + static_cast<std::size_t>(H) * s;

  const auto n = [](std::int64_t count) { return static_cast<std::size_t>(count); };
  std::size_t sym = 0;
  l.dispatch_signals = append(sym, 8 * n(W * L));
  l.gradient_signals = append(sym, 8 * n(W * L));
  l.combine_counters = append(sym, 8 * n(G));
  l.dx_counters = append(sym, 8 * n(G));
  l.row_origins = append(sym, 4 * n(W * L * C));
  l.x_rows = append(sym, s * n(W * L * C * H));
  l.dy_rows = append(sym, s * n(W * L * C * H));
  l.y_slots = append(sym, a * n(T * k * H));
  l.dx_slots = append(sym, a * n(T * k * H));
  l.symmetric_bytes = (sym + 63) / 64 * 64;

  std::size_t own = 0;
  l.control = append(own, sizeof(RankControl));
  l.logits = append(own, a * n(T * E));
  l.probs = append(own, a * n(T * E));
  l.lse = append(own, a * n(T));
  l.dlogits = append(own, a * n(T * E));
  l.topk_index = append(own, 4 * n(T * k));
  l.topk_weight = append(own, a * n(T * k));
  l.kept = append(own, n(T * k));
  l.position = append(own, 4 * n(T * k));
  l.tile_counts = append(own, 4 * n(G * E));
  l.tile_cursor = append(own, 4 * n(G * E));
  l.routed = append(own, 8 * n(E));
  l.accepted = append(own, 8 * n(E));
  l.tile_expected = append(own, 8 * n(G));
  l.tile_routed = append(own, 4 * n(G));
  l.tile_gate_grad = append(own, 4 * n(G));
  l.tile_scheduled = append(own, n(G));
  l.packet_rows = append(own, 8 * n(W * L));
  l.packet_seen = append(own, n(W * L));
  l.expert_packets_seen = append(own, 4 * n(L));
  l.expert_pending = append(own, 4 * n(L));
  l.row_tile_progress = append(own, 4 * n(W * L * l.packet_row_tiles));
  l.z = append(own, a * n(W * L * C * R));
  l.h = append(own, s * n(W * L * C * P));
  l.dz = append(own, s * n(W * L * C * R));
  l.queue_slots = append(own, sizeof(Task) * n(l.task_capacity));
  l.queue_published = append(own, 4 * n(l.task_capacity));
  l.private_bytes = (own + 63) / 64 * 64;
  return l;
}

}  // namespace flashmoe::runtime
