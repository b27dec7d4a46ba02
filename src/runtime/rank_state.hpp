// RankState: everything one rank's actors read and write during one pass, as plain values and
// pointers: the rank's fixed set-up (layout, settings, transport, private area) plus the pass's
// own values (epoch, kind, tokens, the tensors it reads and writes). Trivially copyable, no
// allocation: every group of the rank builds its own copy for the pass (make_pass_state), on the
// CPU and on the device alike.
#pragma once

#include <cstdint>
#include <type_traits>

#include "flashmoe/half.hpp"
#include "flashmoe/types.hpp"
#include "math/capacity.hpp"
#include "portable/atomics.hpp"
#include "portable/transport.hpp"
#include "runtime/fault_injection.hpp"
#include "runtime/invariant.hpp"
#include "runtime/task_queue.hpp"
#include "runtime/tile_span.hpp"
#include "runtime/workspace_layout.hpp"

namespace flashmoe::runtime {

using portable::Scope;

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

enum class PassKind : std::uint8_t { forward, backward };

// Layer settings the actors need, as plain values; fixed for the layer's life.
struct LayerSettings {
  Activation activation = Activation::gelu;
  bool gated = false;
  bool bias = false;
  bool normalize_weights = true;
  bool drop_tokens = true;
  double capacity_factor = 1.25;
  // The expert GEMMs of an fp32 layer may use tf32 tensor cores (a GPU's choice; the gate's
  // GEMM stays fp32 so that routing is decided at full precision).
  bool allow_tf32 = false;
};

// One rank's tensors for one pass: what it reads (the caller's inputs, in the layer's dtype) and
// where it writes (the caller's outputs, in the accumulation type). Written by the host when it
// submits the pass and read by the program only during that pass.
template <typename T>
struct PassBinding {
  using Acc = accumulate_t<T>;
  std::int64_t tokens = 0;  // S_r of this pass, ≤ max_tokens
  const T* x = nullptr;     // [S, H]
  const T* wg = nullptr;    // [E, H]
  const T* w1 = nullptr;    // [L, w1_rows, H]
  const T* b1 = nullptr;    // [L, w1_rows] or null
  const T* w2 = nullptr;    // [L, H, P]
  const T* b2 = nullptr;    // [L, H] or null
  const T* dout = nullptr;  // [S, H] backward only
  double d_aux = 0.0, d_z = 0.0;
  // Outputs. The forward writes out, the routing record and the losses; the backward dx, dwg,
  // dw1, db1, dw2, db2. Every element is written by the pass (nothing needs clearing first).
  Acc* out = nullptr;                  // [S, H] values rounded to T
  Acc* dx = nullptr;                   // [S, H] values rounded to T
  Acc* dwg = nullptr;                  // [E, H]
  Acc* dw1 = nullptr;                  // [L, w1_rows, H]
  Acc* db1 = nullptr;                  // [L, w1_rows] or null
  Acc* dw2 = nullptr;                  // [L, H, P]
  Acc* db2 = nullptr;                  // [L, H] or null
  std::int32_t* topk_index = nullptr;  // [S, k]
  Acc* topk_weight = nullptr;          // [S, k]
  std::uint8_t* kept = nullptr;        // [S, k]
  std::int64_t* routed = nullptr;      // [E]
  std::int64_t* accepted = nullptr;    // [E]
  double* losses = nullptr;            // [2]: aux, z
};

// A pass as the host submits it: the same on every rank of the world.
struct PassDescriptor {
  std::uint32_t epoch = 0;  // numbers the pass, from 1; signals and the abort carry it
  PassKind kind = PassKind::forward;
  std::uint32_t forward_index = 0;  // the forward this pass is or belongs to (its parity picks
                                    // the x-row buffer)
};

template <typename T, typename Transport>
struct RankState {
  using Acc = accumulate_t<T>;

  // ---- fixed for the layer ---------------------------------------------------------------------
  int rank = 0;
  WorkspaceLayout layout;
  LayerSettings settings;
  FaultInjection faults;
  Transport transport;
  std::byte* private_area = nullptr;
  // Where the device records a broken invariant before it traps (host-mapped memory the host
  // reads after the failed launch; invariant.hpp). Null on the CPU, where one throws.
  BrokenInvariant* broken_invariant = nullptr;

  // ---- this pass -------------------------------------------------------------------------------
  std::uint32_t epoch = 0;
  PassKind pass = PassKind::forward;
  std::int64_t parity = 0;              // forward_index % 2
  std::int64_t tokens = 0;              // S_r
  std::int64_t capacity = 0;            // C_r
  std::int64_t active_token_tiles = 0;  // ceil(S_r / token_rows)
  PassBinding<T> io;
  double d_aux = 0.0, d_z = 0.0;
  // Inputs in the accumulation type: the caller's tensors for fp32/fp64 layers, the rank's
  // widened copies (private area, filled when the pass begins) for bf16 layers.
  const Acc* x_acc = nullptr;
  const Acc* wg_acc = nullptr;
  const Acc* b1 = nullptr;
  const Acc* b2 = nullptr;

  // ---- typed access to the areas ---------------------------------------------------------------
  template <typename U>
  FLASHMOE_HOST_DEVICE U* own(const Region& region) const {
    return reinterpret_cast<U*>(private_area + region.offset);
  }
  // The own symmetric buffer, at a byte offset (what peers delivered).
  template <typename U>
  FLASHMOE_HOST_DEVICE const U* received(std::size_t offset) const {
    return reinterpret_cast<const U*>(transport.local(offset));
  }
  FLASHMOE_HOST_DEVICE PassWords& pass_words() const { return *own<PassWords>(layout.pass_words); }
  FLASHMOE_HOST_DEVICE RankControl& control() const { return *own<RankControl>(layout.control); }
  FLASHMOE_HOST_DEVICE SubscriberPartition& partition(std::int64_t p) const {
    return own<SubscriberPartition>(layout.subscriber_partitions)[p];
  }
  FLASHMOE_HOST_DEVICE Mailbox& mailbox(std::int64_t group) const {
    return own<Mailbox>(layout.mailboxes)[group];
  }
  FLASHMOE_HOST_DEVICE TaskQueue queue() const {
    RankControl& c = control();
    return {own<Task>(layout.queue_slots), own<std::uint32_t>(layout.queue_published),
            &c.queue_head, &c.queue_tail,
            faults.queue_capacity(static_cast<std::uint64_t>(layout.task_capacity))};
  }
  FLASHMOE_HOST_DEVICE int world_size() const { return layout.shape.world_size; }
  FLASHMOE_HOST_DEVICE std::int64_t local_experts() const { return layout.shape.local_experts; }
  FLASHMOE_HOST_DEVICE std::int64_t hidden() const { return layout.shape.hidden; }
  FLASHMOE_HOST_DEVICE std::int64_t ffn() const { return layout.shape.ffn; }
  FLASHMOE_HOST_DEVICE std::int64_t w1_rows() const { return layout.shape.w1_rows; }
  FLASHMOE_HOST_DEVICE std::int64_t experts() const { return layout.shape.experts; }
  FLASHMOE_HOST_DEVICE std::int64_t top_k() const { return layout.shape.top_k; }
  FLASHMOE_HOST_DEVICE bool forward() const { return pass == PassKind::forward; }
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
  // Received rows: x of this pass's forward (its parity), dy of this backward.
  FLASHMOE_HOST_DEVICE const T* x_packet_row(std::int64_t source, std::int64_t expert,
                                             std::int64_t row) const {
    return received<T>(layout.x_row(parity, source, expert, row));
  }
  FLASHMOE_HOST_DEVICE const T* dy_packet_row(std::int64_t source, std::int64_t expert,
                                              std::int64_t row) const {
    return received<T>(layout.dy_row(source, expert, row));
  }
  FLASHMOE_HOST_DEVICE std::int32_t origin(std::int64_t source, std::int64_t expert,
                                           std::int64_t row) const {
    return *received<std::int32_t>(layout.row_origin(parity, source, expert, row));
  }
  FLASHMOE_HOST_DEVICE bool aborted() const { return transport.aborted(epoch); }
};

// A copy of the rank's fixed set-up becomes one pass's state (in place: on the device the state
// lives in shared memory, and a second copy on the stack would be local memory).
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline void apply_pass(RankState<T, Transport>& s, const PassDescriptor& pass,
                                            const PassBinding<T>& binding) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  s.epoch = pass.epoch;
  s.pass = pass.kind;
  s.parity = static_cast<std::int64_t>(pass.forward_index % 2);
  s.tokens = binding.tokens;
  s.capacity = math::expert_capacity(binding.tokens, l.shape.top_k, l.shape.experts,
                                     s.settings.capacity_factor, s.settings.drop_tokens);
  s.active_token_tiles = (binding.tokens + l.tiles.token_rows - 1) / l.tiles.token_rows;
  s.io = binding;
  s.d_aux = binding.d_aux;
  s.d_z = binding.d_z;
  if constexpr (std::is_same_v<T, Acc>) {
    s.x_acc = binding.x;
    s.wg_acc = binding.wg;
    s.b1 = binding.b1;
    s.b2 = binding.b2;
  } else {
    s.x_acc = s.template own<Acc>(l.x_acc);
    s.wg_acc = s.template own<Acc>(l.wg_acc);
    s.b1 = binding.b1 != nullptr ? s.template own<Acc>(l.b1_acc) : nullptr;
    s.b2 = binding.b2 != nullptr ? s.template own<Acc>(l.b2_acc) : nullptr;
  }
}

// The rank's fixed set-up and one pass's descriptor and binding → that pass's state.
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline RankState<T, Transport> make_pass_state(
    const RankState<T, Transport>& fixed, const PassDescriptor& pass,
    const PassBinding<T>& binding) {
  RankState<T, Transport> s = fixed;
  apply_pass(s, pass, binding);
  return s;
}

// Group-shared staging memory of one processor group (WorkspaceLayout's group scratch).
template <typename T>
struct GroupScratch {
  accumulate_t<T>* tile = nullptr;      // the staged tile of the running task
  T* rows = nullptr;                    // [group size][H]: one staging row per member
  accumulate_t<T>* partials = nullptr;  // [E]: per-index partials of fixed-order sums
};

template <typename T>
FLASHMOE_HOST_DEVICE inline GroupScratch<T> group_scratch(const WorkspaceLayout& l,
                                                          std::byte* block) {
  return {reinterpret_cast<accumulate_t<T>*>(block + l.group_tile.offset),
          reinterpret_cast<T*>(block + l.group_rows.offset),
          reinterpret_cast<accumulate_t<T>*>(block + l.group_partials.offset)};
}

}  // namespace flashmoe::runtime
