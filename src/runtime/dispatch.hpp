// Dispatch actor (SPEC §2.5, DESIGN §1 payload efficiency). dispatch_tile: for each slot of the
// tile's tokens, in token order, its packet row is the tile's cursor for that expert (the
// exclusive prefix from route, advanced here — members take experts in turn, each walking the
// whole tile in token order, so every cursor has one writer); rows below the capacity are kept,
// and their x rows are put (members take slots in turn) straight into the owner's receive
// buffer [this forward's parity][this rank][local expert][row], with the row's origin
// (token·k + slot). Only routed rows travel. The last dispatch tile raises one signal per
// expert packet carrying its row count — zero rows cost one signal.
#pragma once

#include <chrono>
#include <csignal>
#include <thread>

#include "portable/group.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/signal_word.hpp"

namespace flashmoe::runtime {

// After every dispatch tile's puts (the leader of the last tile, or route when there are no
// tiles): fence, so the rows reach every owner before their signals, then one signal per packet.
template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE inline void signal_dispatch_packets(const RankState<T, Transport>& s,
                                                         const Group& g) {
  if (!g.leader()) return;
  if (s.faults.drops_dispatch(s.rank, s.epoch)) return;  // test hook: peers must time out
  const std::int64_t L = s.local_experts();
  const std::int64_t* accepted = s.template own<std::int64_t>(s.layout.accepted);
  s.transport.fence();
  for (std::int64_t e = 0; e < s.experts(); ++e) {
    const int owner = static_cast<int>(e / L);
    s.transport.signal(owner, s.layout.packet_signal(s.epoch, s.rank, e % L),
                       encode_signal(s.epoch, static_cast<std::uint32_t>(accepted[e])),
                       portable::SignalOp::set);
  }
#if !defined(__CUDA_ARCH__)
  // Test hook: every signal above has completed at its owner (the host transports complete a
  // signal before returning), so the peers are mid-pass when this process dies.
  if (s.faults.die_after_dispatch_from_rank == s.rank) {
    s.transport.quiet();
    std::raise(SIGKILL);
  }
  // Test hook: this rank is late to look at its own signals while its peers run on.
  if (s.faults.slows(s.rank, FaultInjection::SlowAt::after_dispatch_signals))
    std::this_thread::sleep_for(std::chrono::duration<double>(s.faults.slow_seconds));
#endif
}

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void run_dispatch_tile(const RankState<T, Transport>& s, const Group& g,
                                                   std::int64_t tile) {
  const WorkspaceLayout& l = s.layout;
  const std::int64_t E = s.experts(), H = s.hidden(), k = s.top_k(), L = s.local_experts();
  const TileSpan tokens = s.token_tile(tile);
  const std::int64_t first = tokens.first, last = tokens.first + tokens.count;
  const std::int32_t* topk_index = s.template own<std::int32_t>(l.topk_index);    // [S, k]
  std::uint8_t* kept = s.template own<std::uint8_t>(l.kept);                      // [S, k]
  std::int32_t* position = s.template own<std::int32_t>(l.position);              // [S, k]
  std::int32_t* cursor = s.template own<std::int32_t>(l.tile_cursor) + tile * E;  // [E]
  portable::for_my_share(g, 0, E, [&](std::int64_t e) {
    for (std::int64_t i = first * k; i < last * k; ++i) {
      if (topk_index[i] != e) continue;
      const std::int32_t row = cursor[e]++;
      const bool keep = row < s.capacity;
      kept[i] = keep ? 1 : 0;
      position[i] = keep ? row : -1;
    }
  });
  g.sync();
  if (!s.faults.drops_dispatch(s.rank, s.epoch)) {
    // Each kept row is put by the whole group (a row by one thread is a long serial copy on a
    // GPU); the 4-byte origins by the members in turn.
    for (std::int64_t i = first * k; i < last * k; ++i) {
      if (kept[i] == 0) continue;
      const std::int32_t e = topk_index[i];
      s.transport.put_group(g, static_cast<int>(e / L),
                            l.x_row(s.parity, s.rank, e % L, position[i]), s.io.x + (i / k) * H,
                            static_cast<std::size_t>(H) * sizeof(T));
    }
    portable::for_my_share(g, first * k, last * k, [&](std::int64_t i) {
      if (kept[i] == 0) return;
      const std::int32_t e = topk_index[i];
      const std::int32_t origin = static_cast<std::int32_t>(i);  // token·k + slot
      s.transport.put(static_cast<int>(e / L), l.row_origin(s.parity, s.rank, e % L, position[i]),
                      &origin, sizeof(origin));
    });
  }
  g.sync();
  if (!g.leader()) return;
  // The tile now knows how many returned row blocks it waits for; publish that to the
  // subscriber (release: expected count and kept flags before the flag).
  std::uint64_t kept_slots = 0;
  for (std::int64_t i = first * k; i < last * k; ++i) kept_slots += kept[i];
  s.template own<std::uint64_t>(l.tile_expected)[tile] =
      kept_slots * static_cast<std::uint64_t>(l.hidden_tiles);
  portable::store_release<Scope::rank>(s.template own<std::uint32_t>(l.tile_routed)[tile], s.epoch);

  const std::uint64_t done =
      portable::fetch_add_acq_rel<Scope::rank>(s.control().dispatch_tiles_done, std::uint64_t{1}) +
      1;
  if (done == static_cast<std::uint64_t>(s.active_token_tiles)) signal_dispatch_packets(s, g);
}

}  // namespace flashmoe::runtime
