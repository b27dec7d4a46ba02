// WorkspaceLayout: ONE description, computed from the layer shape and the world size, that both
// sizes every buffer of a rank (host, at set-up) and indexes it (every actor, on either target).
// Three kinds of memory:
//   symmetric — the same byte layout on every rank; peers put rows and raise signals into it;
//   private   — this rank's own bookkeeping and saved activations; no peer touches it;
//   group scratch — one block per processor group (a CPU thread group's shared buffer, a thread
//               block's scratch), for staged tiles and per-member rows.
// Every region starts on a 64-byte boundary and no two regions of an area overlap (tested).
//
// What lives across passes (the program runs pass after pass with no host fence, DESIGN §3):
//  - symmetric words are never written by their owner after set-up: signals carry the pass's
//    epoch, and arrival counters only grow (a pass compares against their value at its start);
//  - received x rows and their origins are written by peers unsolicited, possibly while this
//    rank still reads the previous forward's rows (for dW1 in its backward), so they are
//    double-buffered by forward parity; every other region a peer writes is written only in
//    answer to this rank's own packets of the current pass.
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
  // The rank's program: processor groups of group_size members, subscriber partitions.
  std::int64_t processor_groups = 1;
  std::int64_t group_size = 1;
  std::int64_t subscriber_partitions = 1;
};

// Words of one rank's program that outlive a pass, each on its own cache line. Rank scope.
struct PassWords {
  alignas(64) std::uint64_t begun_epoch;  // group 0 set it after resetting for this pass
  alignas(64) std::uint64_t done_epoch;   // the last group to leave a pass set it
  alignas(64) std::uint64_t groups_left;  // groups (and role threads) that left the current pass
  // Steady clock of the latest progress (a finished task, a productive subscriber sweep, a
  // pass begun): a rank idle for the timeout is stuck; the host reads it too.
  alignas(64) std::uint64_t last_progress_ns;
};

// Control words of one pass, reset when the pass begins. Counters and flags are touched only
// through portable atomics (Scope::rank); the hot ones (the queue's ends, the pending count,
// the progress stamp) sit on cache lines of their own, so producers, consumers and pollers do
// not share one line. The loss values are written by one task and read after the pass. Nothing
// outside the rank's program touches these words (the host reads PassWords only).
struct RankControl {
  alignas(64) std::uint64_t queue_head;
  alignas(64) std::uint64_t queue_tail;
  alignas(64) std::uint64_t pending_tasks;     // pushed and not yet finished (incl. follow-ons)
  alignas(64) std::uint64_t token_tiles_done;  // gate tiles (forward) / gate-gradient (backward)
  std::uint64_t dispatch_tiles_done;           // forward dispatch tiles that put their rows
  double aux_loss;
  double z_loss;
};

// One partition of the subscriber's work: the packets from sources s with s % S == partition
// and the token tiles g with g % S == partition. Its bookkeeping has one writer at a time (the
// holder of `lock`, or the partition's dedicated thread). Reset when a pass begins.
struct SubscriberPartition {
  alignas(64) std::uint64_t lock;  // 1 while held (roles taken by idle processors)
  std::uint64_t done;              // every arrival of the partition was turned into tasks
  std::uint64_t packets_seen;
  std::uint64_t tiles_scheduled;
};

// The scheduler's line to one processor group (dedicated roles): the scheduler posts a task and
// raises `posted`; the group runs it and raises `taken`. Monotonic across passes, never reset.
struct Mailbox {
  alignas(64) std::uint64_t posted;
  Task task;
  alignas(64) std::uint64_t taken;
};

struct WorkspaceLayout {
  LayerShape shape;
  TileShape tiles;
  std::int64_t token_tiles = 0;       // ceil(max_tokens / token_rows)
  std::int64_t packet_row_tiles = 0;  // ceil(packet_capacity / expert_rows), per packet
  std::int64_t ffn_tiles = 0;         // ceil(P / ffn_columns)
  std::int64_t dw1_row_tiles = 0;     // ceil(w1_rows / weight_rows): dW1 tasks per expert
  std::int64_t dw2_row_tiles = 0;     // ceil(H / weight_rows): dW2 tasks per expert
  std::int64_t hidden_tiles = 0;      // ceil(H / hidden_columns)
  std::int64_t task_capacity = 0;     // worst-case tasks of one pass (the queue never wraps)
  bool widened_inputs = false;        // storage ≠ accumulation type: wg, x, b1, b2 widened copies

  // ---- symmetric area -----------------------------------------------------------------------
  // u64 [2 epoch parity][W src][L]: epoch << 32 | rows of the pass's packet (x in a forward,
  // dy in a backward). Two slots, by the parity of the pass's epoch: a peer may be one pass
  // ahead, and its next signal must not replace one this rank has not seen yet (docs/engine.md,
  // "Why no fence is needed").
  Region packet_signals;
  Region combine_counters;  // u64 [token tiles]: y row blocks returned (forward), only grow
  Region dx_counters;       // u64 [token tiles]: dx row blocks returned (backward), only grow
  Region row_origins;       // i32 [2 parity][W src][L][packet_capacity]: token·k + slot
  Region x_rows;            // storage [2 parity][W src][L][packet_capacity][H]: x packets
  Region dy_rows;           // storage [W src][L][packet_capacity][H]: received dy packets
  Region y_slots;           // accumulate [max_tokens][k][H]: returned expert outputs y
  Region dx_slots;          // accumulate [max_tokens][k][H]: returned dx partial rows
  std::size_t symmetric_bytes = 0;

  // ---- private area -------------------------------------------------------------------------
  Region pass_words;             // PassWords (never reset)
  Region mailboxes;              // Mailbox [processor groups] (never reset)
  Region control;                // RankControl
  Region subscriber_partitions;  // SubscriberPartition [S]
  Region logits;                 // accumulate [max_tokens][E]
  Region probs;                  // accumulate [max_tokens][E]
  Region lse;                    // accumulate [max_tokens]
  Region dlogits;                // accumulate [max_tokens][E]
  Region topk_index;             // i32 [max_tokens][k]
  Region topk_weight;            // accumulate [max_tokens][k]
  Region slot_grad;              // accumulate [max_tokens][k]: r[t, j] = dout[t]·y[t, j] (backward)
  Region kept;                   // u8 [max_tokens][k]
  Region position;               // i32 [max_tokens][k]: packet row, −1 when dropped
  Region tile_counts;            // i32 [token tiles][E]: slots per expert in each tile
  Region tile_cursor;            // i32 [token tiles][E]: exclusive prefix, then the tile's cursor
  Region routed;                 // i64 [E]: tokens per expert before capacity
  Region accepted;               // i64 [E]: packet rows per expert after capacity
  Region tile_expected;          // u64 [token tiles]: row blocks the tile waits for
  Region tile_routed;            // u32 [token tiles]: epoch once the tile's kept flags are final
  Region tile_gate_grad;         // u32 [token tiles]: epoch once the tile's dlogits are final
  Region tile_scheduled;         // u8 [token tiles]: subscriber-only
  Region arrival_base;           // u64 [token tiles]: its counter's value when the pass began
  Region packet_rows;            // i64 [W src][L]: rows of each received packet
  Region packet_seen;            // u8 [W src][L]: subscriber-only
  Region expert_packets_seen;    // u32 [L]: dy packets in (backward)
  Region expert_pending;         // u32 [L]: open dz tiles (+1 until all dy packets arrived)
  Region row_tile_progress;      // u32 [W src][L][packet row tiles]: column tiles finished
  Region wg_acc;                 // accumulate [E][H]: wg widened (widened_inputs only)
  Region x_acc;                  // accumulate [max_tokens][H]: x widened (widened_inputs only)
  Region b1_acc;                 // accumulate [L][w1_rows] (widened_inputs only)
  Region b2_acc;                 // accumulate [L][H] (widened_inputs only)
  Region z;                      // accumulate [W src][L][packet_capacity][w1_rows]
  Region h;                      // storage [W src][L][packet_capacity][P]: activations
  Region dz;                     // storage [W src][L][packet_capacity][w1_rows]: gradient at z
  Region queue_slots;            // Task [task_capacity]
  Region queue_published;        // u32 [task_capacity]
  std::size_t private_bytes = 0;

  // ---- group scratch (per processor group) ----------------------------------------------------
  Region group_tile;      // accumulate: the largest staged tile of any task
  Region group_rows;      // storage [group_size][H]: one staging row per member
  Region group_partials;  // accumulate [E]: per-index partials of fixed-order sums
  std::size_t group_scratch_bytes = 0;

  FLASHMOE_HOST_DEVICE static WorkspaceLayout compute(const LayerShape& shape,
                                                      const TileShape& tiles);

  // ---- indexing (byte offsets inside the area that holds the region) --------------------------
  FLASHMOE_HOST_DEVICE std::int64_t packet_index(std::int64_t source_rank,
                                                 std::int64_t local_expert) const {
    return source_rank * shape.local_experts + local_expert;
  }
  FLASHMOE_HOST_DEVICE std::size_t packet_signal(std::uint32_t epoch, std::int64_t source_rank,
                                                 std::int64_t local_expert) const {
    const std::int64_t slot = static_cast<std::int64_t>(epoch % 2);
    return packet_signals.offset +
           8 * idx(slot * shape.world_size * shape.local_experts +
                   packet_index(source_rank, local_expert));
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
  // Rows of all packets of one parity.
  FLASHMOE_HOST_DEVICE std::size_t rows_per_parity() const {
    return idx(shape.world_size * shape.local_experts * shape.packet_capacity);
  }
  FLASHMOE_HOST_DEVICE std::size_t row_origin(std::int64_t parity, std::int64_t source_rank,
                                              std::int64_t local_expert, std::int64_t row) const {
    return row_origins.offset +
           4 * (idx(parity) * rows_per_parity() + packet_row(source_rank, local_expert, row));
  }
  FLASHMOE_HOST_DEVICE std::size_t x_row(std::int64_t parity, std::int64_t source_rank,
                                         std::int64_t local_expert, std::int64_t row) const {
    return x_rows.offset +
           (idx(parity) * rows_per_parity() + packet_row(source_rank, local_expert, row)) *
               idx(shape.hidden) * shape.storage_bytes;
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
  // The subscriber partition that owns packets from `source_rank` / token tile `tile`.
  FLASHMOE_HOST_DEVICE std::int64_t partition_of_source(std::int64_t source_rank) const {
    return source_rank % shape.subscriber_partitions;
  }
  FLASHMOE_HOST_DEVICE std::int64_t partition_of_tile(std::int64_t tile) const {
    return tile % shape.subscriber_partitions;
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
  l.widened_inputs = s != a;

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

  const auto n = [](std::int64_t count) { return static_cast<std::size_t>(count); };
  std::size_t sym = 0;
  l.packet_signals = append(sym, 8 * n(2 * W * L));
  l.combine_counters = append(sym, 8 * n(G));
  l.dx_counters = append(sym, 8 * n(G));
  l.row_origins = append(sym, 4 * n(2 * W * L * C));
  l.x_rows = append(sym, s * n(2 * W * L * C * H));
  l.dy_rows = append(sym, s * n(W * L * C * H));
  l.y_slots = append(sym, a * n(T * k * H));
  l.dx_slots = append(sym, a * n(T * k * H));
  l.symmetric_bytes = (sym + 63) / 64 * 64;

  const std::size_t widened = l.widened_inputs ? 1 : 0;
  std::size_t own = 0;
  l.pass_words = append(own, sizeof(PassWords));
  l.mailboxes = append(own, sizeof(Mailbox) * n(shape.processor_groups));
  l.control = append(own, sizeof(RankControl));
  l.subscriber_partitions =
      append(own, sizeof(SubscriberPartition) * n(shape.subscriber_partitions));
  l.logits = append(own, a * n(T * E));
  l.probs = append(own, a * n(T * E));
  l.lse = append(own, a * n(T));
  l.dlogits = append(own, a * n(T * E));
  l.topk_index = append(own, 4 * n(T * k));
  l.topk_weight = append(own, a * n(T * k));
  l.slot_grad = append(own, a * n(T * k));
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
  l.arrival_base = append(own, 8 * n(G));
  l.packet_rows = append(own, 8 * n(W * L));
  l.packet_seen = append(own, n(W * L));
  l.expert_packets_seen = append(own, 4 * n(L));
  l.expert_pending = append(own, 4 * n(L));
  l.row_tile_progress = append(own, 4 * n(W * L * l.packet_row_tiles));
  l.wg_acc = append(own, widened * a * n(E * H));
  l.x_acc = append(own, widened * a * n(T * H));
  l.b1_acc = append(own, widened * a * n(L * R));
  l.b2_acc = append(own, widened * a * n(L * H));
  l.z = append(own, a * n(W * L * C * R));
  l.h = append(own, s * n(W * L * C * P));
  l.dz = append(own, s * n(W * L * C * R));
  l.queue_slots = append(own, sizeof(Task) * n(l.task_capacity));
  l.queue_published = append(own, 4 * n(l.task_capacity));
  l.private_bytes = (own + 63) / 64 * 64;

  const std::int64_t staged_tile = layout_detail::max_of(
      tiles.expert_rows * layout_detail::max_of(tiles.ffn_columns, tiles.hidden_columns),
      tiles.token_rows * H);
  std::size_t group = 0;
  l.group_tile = append(group, a * n(staged_tile));
  l.group_rows = append(group, s * n(shape.group_size * H));
  l.group_partials = append(group, a * n(E));
  l.group_scratch_bytes = (group + 63) / 64 * 64;
  return l;
}

}  // namespace flashmoe::runtime
