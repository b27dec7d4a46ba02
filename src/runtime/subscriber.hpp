// Subscriber actor: watches this rank's incoming signals and turns arrivals into tasks.
//   forward:  a dispatch signal (source, expert) of this pass → the packet's expert_up tiles;
//             a token tile whose returned y row blocks all arrived → its combine tile.
//   backward: a dy signal (source, expert) → its expert_grad_hidden tiles, and once all W dy
//             packets of an expert are in → its weight_grad_down tiles (weight_grad_up follows
//             its last dz tile); a token tile with its dlogits ready and all dx row blocks in →
//             its input_grad tile.
// Exactly one worker plays the subscriber at a time (RankControl::subscriber_lock, taken by
// whichever idle worker gets it): on a CPU with fewer cores than workers a dedicated polling
// thread would steal a core from the processors, and the lock makes the subscriber's
// bookkeeping (seen flags, counts) single-writer without further atomics. When every expected
// arrival has been subscribed it raises subscriber_done; with pending_tasks == 0 that ends the
// rank's pass.
#pragma once

#include "platform/cpu/atomics.hpp"
#include "runtime/expert_backward.hpp"
#include "runtime/platform_interface.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/signal_word.hpp"

namespace flashmoe::runtime {

enum class PassKind : std::uint8_t { forward, backward };

template <typename T>
FLASHMOE_HOST_DEVICE inline bool try_lock_subscriber(const RankState<T>& s) {
  std::uint64_t& lock = s.control().subscriber_lock;
  return platform::load_relaxed(lock) == 0 &&
         platform::exchange_acq_rel(lock, std::uint64_t{1}) == 0;
}
template <typename T>
FLASHMOE_HOST_DEVICE inline void unlock_subscriber(const RankState<T>& s) {
  platform::store_release(s.control().subscriber_lock, std::uint64_t{0});
}

namespace subscriber_detail {

template <typename T>
FLASHMOE_HOST_DEVICE inline void schedule_packet_tiles(const RankState<T>& s, TaskKind kind,
                                                       std::int64_t source, std::int64_t expert,
                                                       std::int64_t rows) {
  const std::int64_t row_tiles =
      (rows + s.layout.tiles.expert_rows - 1) / s.layout.tiles.expert_rows;
  for (std::int64_t rt = 0; rt < row_tiles; ++rt)
    for (std::int64_t c = 0; c < s.layout.ffn_tiles; ++c)
      schedule(s, Task{kind, static_cast<std::int16_t>(source), static_cast<std::int16_t>(expert),
                       static_cast<std::int32_t>(rt), static_cast<std::int32_t>(c)});
}

// A packet of the backward arrived: its dz tiles join the expert's open work before they are
// queued, so the expert's dW1 cannot be released early.
template <typename T>
FLASHMOE_HOST_DEVICE inline void on_gradient_packet(const RankState<T>& s, std::int64_t source,
                                                    std::int64_t expert, std::int64_t rows) {
  const std::int64_t row_tiles =
      (rows + s.layout.tiles.expert_rows - 1) / s.layout.tiles.expert_rows;
  std::uint32_t& pending = s.template own<std::uint32_t>(s.layout.expert_pending)[expert];
  platform::fetch_add_acq_rel(pending, static_cast<std::uint32_t>(row_tiles * s.layout.ffn_tiles));
  schedule_packet_tiles(s, TaskKind::expert_grad_hidden, source, expert, rows);
  std::uint32_t& seen = s.template own<std::uint32_t>(s.layout.expert_packets_seen)[expert];
  if (++seen == static_cast<std::uint32_t>(s.world.world_size)) {
    for (std::int64_t c = 0; c < s.layout.dw2_row_tiles; ++c)
      schedule(s, Task{TaskKind::weight_grad_down, 0, static_cast<std::int16_t>(expert), 0,
                       static_cast<std::int32_t>(c)});
    release_expert_pending(s, expert);  // the "not all packets yet" unit
  }
}

}  // namespace subscriber_detail

// One sweep over every not-yet-seen arrival; true when it scheduled anything or finished.
// Caller holds the subscriber lock.
template <typename T>
FLASHMOE_HOST_DEVICE inline bool poll_arrivals(const RankState<T>& s, PassKind pass) {
  const WorkspaceLayout& l = s.layout;
  RankControl& c = s.control();
  if (c.subscriber_done != 0) return false;
  bool produced = false;
  const std::int64_t packets = s.world.world_size * s.local_experts();
  std::uint8_t* seen = s.template own<std::uint8_t>(l.packet_seen);         // [W, L]
  std::int64_t* packet_rows = s.template own<std::int64_t>(l.packet_rows);  // [W, L]
  for (std::int64_t p = 0; p < packets && c.packets_seen < static_cast<std::uint64_t>(packets);
       ++p) {
    if (seen[p] != 0) continue;
    const std::int64_t source = p / s.local_experts(), expert = p % s.local_experts();
    const std::uint64_t word =
        s.world.poll(s.rank, pass == PassKind::forward ? l.dispatch_signal(source, expert)
                                                       : l.gradient_signal(source, expert));
    if (signal_epoch(word) != s.epoch) continue;
    seen[p] = 1;
    ++c.packets_seen;
    produced = true;
    const std::int64_t rows = signal_rows(word);
    if (pass == PassKind::forward) {
      packet_rows[p] = rows;
      subscriber_detail::schedule_packet_tiles(s, TaskKind::expert_up, source, expert, rows);
    } else {
      if (rows != packet_rows[p])
        fail_packet_mismatch(s.rank, static_cast<int>(source), static_cast<int>(expert),
                             static_cast<std::uint64_t>(packet_rows[p]),
                             static_cast<std::uint64_t>(rows));
      subscriber_detail::on_gradient_packet(s, source, expert, rows);
    }
  }

  std::uint8_t* scheduled = s.template own<std::uint8_t>(l.tile_scheduled);  // [tiles]
  std::uint32_t* ready = s.template own<std::uint32_t>(
      pass == PassKind::forward ? l.tile_routed : l.tile_gate_grad);               // [tiles]
  const std::uint64_t* expected = s.template own<std::uint64_t>(l.tile_expected);  // [tiles]
  for (std::int64_t g = 0; g < s.active_token_tiles; ++g) {
    if (scheduled[g] != 0 || platform::load_acquire(ready[g]) != s.epoch) continue;
    const std::uint64_t arrived =
        s.world.poll(s.rank, pass == PassKind::forward ? l.combine_counter(g) : l.dx_counter(g));
    if (arrived < expected[g]) continue;
    scheduled[g] = 1;
    ++c.token_tiles_scheduled;
    produced = true;
    schedule(s, Task{pass == PassKind::forward ? TaskKind::combine_tile : TaskKind::input_grad_tile,
                     0, 0, static_cast<std::int32_t>(g), 0});
  }

  if (c.packets_seen == static_cast<std::uint64_t>(packets) &&
      c.token_tiles_scheduled == static_cast<std::uint64_t>(s.active_token_tiles)) {
    platform::store_release(c.subscriber_done, std::uint64_t{1});
    produced = true;
  }
  return produced;
}

}  // namespace flashmoe::runtime
