// Subscriber actor: watches this rank's incoming signals and turns arrivals into tasks.
//   forward:  a dispatch signal (source, expert) of this pass → the packet's expert_up tiles;
//             a token tile whose returned y row blocks all arrived → its combine tile.
//   backward: a dy signal (source, expert) → its expert_grad_hidden tiles, and once all W dy
//             packets of an expert are in → its weight_grad_down tiles (weight_grad_up follows
//             its last dz tile); a token tile with its dlogits ready and all dx row blocks in →
//             its input_grad tile.
// The work is split into S partitions (WorkspaceLayout::partition_of_source / _of_tile): packets
// by source rank, token tiles by index, so several subscribers can sweep at once. A partition's
// bookkeeping (seen flags, counts) has one writer at a time — its dedicated subscriber thread,
// or (roles taken by idle processors) whichever group leader holds its lock. When every
// expected arrival of a partition has been subscribed it raises the partition's `done`; all
// partitions done and pending_tasks == 0 end the rank's pass.
//
// Arrival counters are never reset (peers add to them, the owner never writes them): a token
// tile's rows of this pass are its counter's growth since the pass began (arrival_base, read
// when the pass began, while no peer could add to it — peers answer only this pass's packets,
// which had not been sent yet).
#pragma once

#include "portable/atomics.hpp"
#include "runtime/expert_backward.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/signal_word.hpp"

namespace flashmoe::runtime {

template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline bool try_lock_partition(const RankState<T, Transport>& s,
                                                    std::int64_t p) {
  std::uint64_t& lock = s.partition(p).lock;
  return portable::load_relaxed<Scope::rank>(lock) == 0 &&
         portable::exchange_acq_rel<Scope::rank>(lock, std::uint64_t{1}) == 0;
}
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline void unlock_partition(const RankState<T, Transport>& s,
                                                  std::int64_t p) {
  portable::store_release<Scope::rank>(s.partition(p).lock, std::uint64_t{0});
}

// How many packets / token tiles partition p waits for in this pass.
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline std::uint64_t partition_packets(const RankState<T, Transport>& s,
                                                            std::int64_t p) {
  const std::int64_t S = s.layout.shape.subscriber_partitions, W = s.world_size();
  const std::int64_t sources = p < W ? (W - 1 - p) / S + 1 : 0;
  return static_cast<std::uint64_t>(sources * s.local_experts());
}
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline std::uint64_t partition_tiles(const RankState<T, Transport>& s,
                                                          std::int64_t p) {
  const std::int64_t S = s.layout.shape.subscriber_partitions, G = s.active_token_tiles;
  return static_cast<std::uint64_t>(p < G ? (G - 1 - p) / S + 1 : 0);
}

// The token tile's returned row blocks of this pass so far.
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline std::uint64_t rows_arrived(const RankState<T, Transport>& s,
                                                       std::int64_t tile) {
  const WorkspaceLayout& l = s.layout;
  const std::uint64_t word =
      s.transport.signal_fetch(s.forward() ? l.combine_counter(tile) : l.dx_counter(tile));
  return word - s.template own<std::uint64_t>(l.arrival_base)[tile];
}

namespace subscriber_detail {

template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline void schedule_packet_tiles(const RankState<T, Transport>& s,
                                                       TaskKind kind, std::int64_t source,
                                                       std::int64_t expert, std::int64_t rows) {
  const std::int64_t row_tiles =
      (rows + s.layout.tiles.expert_rows - 1) / s.layout.tiles.expert_rows;
  for (std::int64_t rt = 0; rt < row_tiles; ++rt)
    for (std::int64_t c = 0; c < s.layout.ffn_tiles; ++c)
      schedule(s, Task{kind, static_cast<std::int16_t>(source), static_cast<std::int16_t>(expert),
                       static_cast<std::int32_t>(rt), static_cast<std::int32_t>(c)});
}

// A packet of the backward arrived: its dz tiles join the expert's open work before they are
// queued, so the expert's dW1 cannot be released early. Packets of one expert come from every
// source, hence from several partitions: the count of arrived packets is an atomic.
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline void on_gradient_packet(const RankState<T, Transport>& s,
                                                    std::int64_t source, std::int64_t expert,
                                                    std::int64_t rows) {
  const std::int64_t row_tiles =
      (rows + s.layout.tiles.expert_rows - 1) / s.layout.tiles.expert_rows;
  std::uint32_t& pending = s.template own<std::uint32_t>(s.layout.expert_pending)[expert];
  portable::fetch_add_acq_rel<Scope::rank>(
      pending, static_cast<std::uint32_t>(row_tiles * s.layout.ffn_tiles));
  schedule_packet_tiles(s, TaskKind::expert_grad_hidden, source, expert, rows);
  std::uint32_t& seen = s.template own<std::uint32_t>(s.layout.expert_packets_seen)[expert];
  if (portable::fetch_add_acq_rel<Scope::rank>(seen, std::uint32_t{1}) + 1 ==
      static_cast<std::uint32_t>(s.world_size())) {
    for (std::int64_t c = 0; c < s.layout.dw2_row_tiles; ++c)
      schedule(s, Task{TaskKind::weight_grad_down, 0, static_cast<std::int16_t>(expert), 0,
                       static_cast<std::int32_t>(c)});
    release_expert_pending(s, expert);  // the "not all packets yet" unit
  }
}

}  // namespace subscriber_detail

// One sweep over partition p's not-yet-seen arrivals; true when it scheduled anything or
// finished the partition. The caller holds the partition.
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline bool poll_partition(
    const RankState<T, Transport>& s, std::int64_t p) {
  const WorkspaceLayout& l = s.layout;
  SubscriberPartition& part = s.partition(p);
  if (part.done != 0) return false;
  const std::int64_t S = l.shape.subscriber_partitions, L = s.local_experts();
  bool produced = false;
  std::uint8_t* seen = s.template own<std::uint8_t>(l.packet_seen);         // [W, L]
  std::int64_t* packet_rows = s.template own<std::int64_t>(l.packet_rows);  // [W, L]
  const std::uint64_t packets = partition_packets(s, p);
  for (std::int64_t source = p; source < s.world_size() && part.packets_seen < packets;
       source += S) {
    for (std::int64_t expert = 0; expert < L; ++expert) {
      const std::int64_t index = l.packet_index(source, expert);
      if (seen[index] != 0) continue;
      const std::uint64_t word = s.transport.signal_fetch(l.packet_signal(s.epoch, source, expert));
      if (signal_epoch(word) != s.epoch) continue;
      seen[index] = 1;
      ++part.packets_seen;
      produced = true;
      const std::int64_t rows = signal_rows(word);
      if (s.forward()) {
        packet_rows[index] = rows;
        subscriber_detail::schedule_packet_tiles(s, TaskKind::expert_up, source, expert, rows);
      } else {
        if (rows != packet_rows[index])
          fail_packet_mismatch(
              s.broken_invariant, s.rank, static_cast<int>(source), static_cast<int>(expert),
              static_cast<std::uint64_t>(packet_rows[index]), static_cast<std::uint64_t>(rows));
        subscriber_detail::on_gradient_packet(s, source, expert, rows);
      }
    }
  }

  std::uint8_t* scheduled = s.template own<std::uint8_t>(l.tile_scheduled);  // [tiles]
  std::uint32_t* ready =
      s.template own<std::uint32_t>(s.forward() ? l.tile_routed : l.tile_gate_grad);  // [tiles]
  const std::uint64_t* expected = s.template own<std::uint64_t>(l.tile_expected);     // [tiles]
  for (std::int64_t tile = p; tile < s.active_token_tiles; tile += S) {
    if (scheduled[tile] != 0 || portable::load_acquire<Scope::rank>(ready[tile]) != s.epoch)
      continue;
    if (rows_arrived(s, tile) < expected[tile]) continue;
    scheduled[tile] = 1;
    ++part.tiles_scheduled;
    produced = true;
    schedule(s, Task{s.forward() ? TaskKind::combine_tile : TaskKind::input_grad_tile, 0, 0,
                     static_cast<std::int32_t>(tile), 0});
  }

  if (part.packets_seen == packets && part.tiles_scheduled == partition_tiles(s, p)) {
    portable::store_release<Scope::rank>(part.done, std::uint64_t{1});
    produced = true;
  }
  return produced;
}

// What partition p still waits for, for a timeout's message. The caller holds the partition.
struct WaitDescription {
  // packet / rows: a peer's; tasks: the rank's own unfinished tasks; own_participants: the
  // rank's other participants never left the previous pass or opened this one.
  enum class What : std::uint8_t {
    nothing,
    packet,
    rows,
    tasks,
    own_participants
  } what = What::nothing;
  std::int64_t source = 0, expert = 0;                     // packet
  std::int64_t tile = 0, first_token = 0, last_token = 0;  // rows
  std::uint64_t arrived = 0, expected = 0;                 // rows
  std::uint64_t pending = 0;                               // tasks
};

template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline WaitDescription describe_partition_wait(
    const RankState<T, Transport>& s, std::int64_t p) {
  const WorkspaceLayout& l = s.layout;
  const std::int64_t S = l.shape.subscriber_partitions;
  WaitDescription d;
  const std::uint8_t* seen = s.template own<std::uint8_t>(l.packet_seen);
  for (std::int64_t source = p; source < s.world_size(); source += S)
    for (std::int64_t expert = 0; expert < s.local_experts(); ++expert)
      if (seen[l.packet_index(source, expert)] == 0) {
        d.what = WaitDescription::What::packet;
        d.source = source;
        d.expert = expert;
        return d;
      }
  const std::uint8_t* scheduled = s.template own<std::uint8_t>(l.tile_scheduled);
  const std::uint64_t* expected = s.template own<std::uint64_t>(l.tile_expected);
  for (std::int64_t tile = p; tile < s.active_token_tiles; tile += S) {
    if (scheduled[tile] != 0) continue;
    const TileSpan tokens = s.token_tile(tile);
    d.what = WaitDescription::What::rows;
    d.tile = tile;
    d.first_token = tokens.first;
    d.last_token = tokens.first + tokens.count - 1;
    d.arrived = rows_arrived(s, tile);
    d.expected = expected[tile];
    return d;
  }
  d.what = WaitDescription::What::tasks;
  d.pending = portable::load_acquire<Scope::rank>(s.control().pending_tasks);
  return d;
}

}  // namespace flashmoe::runtime
