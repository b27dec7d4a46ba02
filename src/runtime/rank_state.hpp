// RankState: everything one rank's actors read and write during a pass, as plain pointers into
// the rank's symmetric and private areas (indexed by the WorkspaceLayout) and into the caller's
// tensors. Trivially copyable, no allocation: the same struct drives the CPU workers and the
// device's persistent blocks.
#pragma once

#include <cstdint>

#include "flashmoe/half.hpp"
#include "flashmoe/types.hpp"
#include "runtime/fault_injection.hpp"
#include "runtime/task_queue.hpp"
#include "runtime/tile_span.hpp"
#include "runtime/workspace_layout.hpp"
#include "transport/local/local_world.hpp"

namespace flashmoe::runtime {

// Accumulation type of a storage type: fp64 layers accumulate in fp64, the others in fp32.
template <typename T>
struct AccumulateOf {
  using type = float;
};
template <>
struct AccumulateOf<double> {
  using type = double;
};
template <typename T>
using accumulate_t = typename AccumulateOf<T>::type;

// Layer settings the actors need, as plain values.
struct LayerSettings {
  Activation activation = Activation::gelu;
  bool gated = false;
  bool bias = false;
  bool normalize_weights = true;
  double d_aux = 0.0;
  double d_z = 0.0;
};

template <typename T>
struct RankState {
  using Acc = accumulate_t<T>;

  int rank = 0;
  std::uint32_t epoch = 0;  // numbers this pass; signals carry it
  WorkspaceLayout layout;
  LayerSettings settings;
  FaultInjection faults;
  transport::TransportView world;
  std::byte* private_area = nullptr;
  std::int64_t tokens = 0;              // S_r
  std::int64_t capacity = 0;            // C_r
  std::int64_t active_token_tiles = 0;  // ceil(S_r / token_rows)

  // Inputs (the caller's tensors; Acc copies where the storage type differs).
  const T* x = nullptr;         // [S, H]
  const Acc* x_acc = nullptr;   // [S, H] x widened (gate gradient GEMM)
  const T* wg = nullptr;        // [E, H]
  const Acc* wg_acc = nullptr;  // [E, H]
  const T* w1 = nullptr;        // [L, w1_rows, H]
  const Acc* b1 = nullptr;      // [L, w1_rows] or null
  const T* w2 = nullptr;        // [L, H, P]
  const Acc* b2 = nullptr;      // [L, H] or null
  const T* dout = nullptr;      // [S, H] backward only

  // Outputs, in the accumulation type (out and dx hold values rounded to T).
  Acc* out = nullptr;  // [S, H]
  Acc* dx = nullptr;   // [S, H]
  Acc* dwg = nullptr;  // [E, H]
  Acc* dw1 = nullptr;  // [L, w1_rows, H]
  Acc* db1 = nullptr;  // [L, w1_rows]
  Acc* dw2 = nullptr;  // [L, H, P]
  Acc* db2 = nullptr;  // [L, H]

  // ---- typed access to the areas ------------------------------------------------------------
  template <typename U>
  FLASHMOE_HOST_DEVICE U* own(const Region& region) const {
    return reinterpret_cast<U*>(private_area + region.offset);
  }
  template <typename U>
  FLASHMOE_HOST_DEVICE U* symmetric(std::size_t offset) const {
    return world.template at<U>(rank, offset);
  }
  FLASHMOE_HOST_DEVICE RankControl& control() const { return *own<RankControl>(layout.control); }
  FLASHMOE_HOST_DEVICE TaskQueue queue() const {
    RankControl& c = control();
    return {own<Task>(layout.queue_slots), own<std::uint32_t>(layout.queue_published),
            &c.queue_head, &c.queue_tail, static_cast<std::uint64_t>(layout.task_capacity)};
  }
  FLASHMOE_HOST_DEVICE std::int64_t local_experts() const { return layout.shape.local_experts; }
  FLASHMOE_HOST_DEVICE std::int64_t hidden() const { return layout.shape.hidden; }
  FLASHMOE_HOST_DEVICE std::int64_t ffn() const { return layout.shape.ffn; }
  FLASHMOE_HOST_DEVICE std::int64_t w1_rows() const { return layout.shape.w1_rows; }
  FLASHMOE_HOST_DEVICE std::int64_t experts() const { return layout.shape.experts; }
  FLASHMOE_HOST_DEVICE std::int64_t top_k() const { return layout.shape.top_k; }
  FLASHMOE_HOST_DEVICE std::int64_t packet_rows(std::int64_t source, std::int64_t expert) const {
    return own<std::int64_t>(layout.packet_rows)[layout.packet_index(source, expert)];
  }
  // Token tile `tile` of this rank: tokens [first, first + count), cut in tiles of token_rows.
  FLASHMOE_HOST_DEVICE TileSpan token_tile(std::int64_t tile) const {
    return tile_span(tile, layout.tiles.token_rows, tokens);
  }
  // The block of an expert tile task: rows [first_row, first_row + rows) of packet
  // (source, expert), cut in row tiles of expert_rows, × output columns
  // [first_col, first_col + cols) of `total_columns`, cut in column tiles of `column_width`.
  struct ExpertTile {
    std::int64_t source, expert, first_row, rows, first_col, cols;
  };
  FLASHMOE_HOST_DEVICE ExpertTile expert_tile(const Task& task, std::int64_t column_width,
                                              std::int64_t total_columns) const {
    const TileSpan rows = tile_span(task.tile, layout.tiles.expert_rows,
                                    packet_rows(task.source_rank, task.local_expert));
    const TileSpan cols = tile_span(task.column, column_width, total_columns);
    return {task.source_rank, task.local_expert, rows.first, rows.count, cols.first, cols.count};
  }
  // Private per-row state of packet (source, expert), row `row`.
  FLASHMOE_HOST_DEVICE Acc* z_row(std::int64_t source, std::int64_t expert,
                                  std::int64_t row) const {
    return own<Acc>(layout.z) + layout.packet_row(source, expert, row) * w1_rows();
  }
  FLASHMOE_HOST_DEVICE T* h_row(std::int64_t source, std::int64_t expert, std::int64_t row) const {
    return own<T>(layout.h) + layout.packet_row(source, expert, row) * ffn();
  }
  FLASHMOE_HOST_DEVICE T* dz_row(std::int64_t source, std::int64_t expert, std::int64_t row) const {
    return own<T>(layout.dz) + layout.packet_row(source, expert, row) * w1_rows();
  }
  FLASHMOE_HOST_DEVICE const T* x_packet_row(std::int64_t source, std::int64_t expert,
                                             std::int64_t row) const {
    return symmetric<T>(layout.x_row(source, expert, row));
  }
  FLASHMOE_HOST_DEVICE const T* dy_packet_row(std::int64_t source, std::int64_t expert,
                                              std::int64_t row) const {
    return symmetric<T>(layout.dy_row(source, expert, row));
  }
  FLASHMOE_HOST_DEVICE std::int32_t origin(std::int64_t source, std::int64_t expert,
                                           std::int64_t row) const {
    return *symmetric<std::int32_t>(layout.row_origin(source, expert, row));
  }
};

// Worker-private staging memory (one tile of accumulators and one row of storage elements).
template <typename T>
struct WorkerScratch {
  accumulate_t<T>* tile = nullptr;
  T* row = nullptr;
};

}  // namespace flashmoe::runtime
