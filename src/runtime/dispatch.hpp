// Dispatch actor (SPEC §2.5, DESIGN §1 payload efficiency). dispatch_tile: for each slot of the
// tile's tokens, in token order, its packet row is the tile's cursor for that expert (the
// exclusive prefix from route, advanced here); rows below the capacity are kept and their x row
// is put straight into the owner's receive buffer [this rank][local expert][row], with the
// row's origin (token·k + slot). Only routed rows travel. The last dispatch tile raises one
// signal per expert packet carrying its row count — zero rows cost one signal.
#pragma once

#include <csignal>

#include "runtime/scheduler.hpp"
#include "runtime/signal_word.hpp"

namespace flashmoe::runtime {

template <typename T>
FLASHMOE_HOST_DEVICE inline void signal_dispatch_packets(const RankState<T>& s) {
  if (s.faults.drop_dispatch_from_rank == s.rank) return;  // test hook: peers must time out
  const std::int64_t L = s.local_experts();
  const std::int64_t* accepted = s.template own<std::int64_t>(s.layout.accepted);
  for (std::int64_t e = 0; e < s.experts(); ++e) {
    const int owner = static_cast<int>(e / L);
    s.world.signal_store(owner, s.layout.dispatch_signal(s.rank, e % L),
                         encode_signal(s.epoch, static_cast<std::uint32_t>(accepted[e])));
  }
#if !defined(__CUDA_ARCH__)
  // Test hook: every signal above has completed at its owner (signal_store returns after
  // that), so the peers are mid-pass when this process dies.
  if (s.faults.die_after_dispatch_from_rank == s.rank) std::raise(SIGKILL);
#endif
}

template <typename T>
FLASHMOE_HOST_DEVICE inline void run_dispatch_tile(const RankState<T>& s, std::int64_t tile) {
  const WorkspaceLayout& l = s.layout;
  const std::int64_t E = s.experts(), H = s.hidden(), k = s.top_k(), L = s.local_experts();
  const TileSpan tokens = s.token_tile(tile);
  const std::int64_t first = tokens.first, last = tokens.first + tokens.count;
  const std::int32_t* topk_index = s.template own<std::int32_t>(l.topk_index);    // [S, k]
  std::uint8_t* kept = s.template own<std::uint8_t>(l.kept);                      // [S, k]
  std::int32_t* position = s.template own<std::int32_t>(l.position);              // [S, k]
  std::int32_t* cursor = s.template own<std::int32_t>(l.tile_cursor) + tile * E;  // [E]
  const bool silent = s.faults.drop_dispatch_from_rank == s.rank;
  std::uint64_t kept_slots = 0;
  for (std::int64_t t = first; t < last; ++t) {
    for (std::int64_t j = 0; j < k; ++j) {
      const std::int32_t e = topk_index[t * k + j];
      const std::int32_t row = cursor[e]++;
      const bool keep = row < s.capacity;
      kept[t * k + j] = keep ? 1 : 0;
      position[t * k + j] = keep ? row : -1;
      if (!keep) continue;
      ++kept_slots;
      if (silent) continue;
      const int owner = static_cast<int>(e / L);
      const std::int64_t local_expert = e % L;
      const std::int32_t origin = static_cast<std::int32_t>(t * k + j);
      s.world.put(owner, l.x_row(s.rank, local_expert, row), s.x + t * H,
                  static_cast<std::size_t>(H) * sizeof(T));
      s.world.put(owner, l.row_origin(s.rank, local_expert, row), &origin, sizeof(origin));
    }
  }
  // The tile now knows how many returned row blocks it waits for; publish that to the
  // subscriber (release: expected count and kept flags before the flag).
  s.template own<std::uint64_t>(l.tile_expected)[tile] =
      kept_slots * static_cast<std::uint64_t>(l.hidden_tiles);
  platform::store_release(s.template own<std::uint32_t>(l.tile_routed)[tile], s.epoch);

  const std::uint64_t done =
      platform::fetch_add_acq_rel(s.control().dispatch_tiles_done, std::uint64_t{1}) + 1;
  if (done == static_cast<std::uint64_t>(s.active_token_tiles)) signal_dispatch_packets(s);
}

}  // namespace flashmoe::runtime
