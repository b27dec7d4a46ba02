// The worker group: the unit that runs one task of the program at a time. On the CPU it is G OS
// threads meeting at a barrier (platform/cpu/thread_group.hpp; G = 1 is the production CPU
// setting, G = 2, 4 make every rule of the group model run in CI), on a GPU a thread block
// (platform/cuda). Actors are written for the group (DESIGN §3):
//  - members take strided shares of independent work (rows, tokens, experts, columns: member r
//    of G takes indices r, r + G, ...), each index computed exactly as a lone member would, so
//    results never depend on G;
//  - a sum over members is never formed in an order that depends on G: an actor parallelises
//    over the outputs and keeps each output's own summation order, and the few scalar totals
//    (losses) are summed by the leader in index order from per-index partials;
//  - the words other groups read ("last tile" counters, flags, the queue) are touched by the
//    leader (rank 0) only, after a group sync that makes every member's writes part of what the
//    leader publishes;
//  - group-shared scratch stands in for shared memory; sync() for __syncthreads().
// A group offers:
//   size(), rank(), leader()
//   sync()                       every member arrives before any leaves; members' writes before
//                                it are visible to every member after it
//   broadcast(value)             the leader's value, returned to every member (collective)
//   gemm(TileGemm), gemm_activate(TileGemmActivation), activate_backward(TileActivationBackward)
//                                the collective tile operations (portable/tile_ops.hpp)
//   now_ns()                     a monotonic clock for bounded waits
//   idle(attempt)                one step of a polling back-off (spin, then yield / nanosleep)
#pragma once

#include <concepts>
#include <cstdint>

#include "flashmoe/macros.hpp"
#include "portable/tile_ops.hpp"

namespace flashmoe::portable {

template <typename G>
concept Group = requires(const G& g, std::uint64_t word, int attempt) {
  { g.size() } -> std::same_as<int>;
  { g.rank() } -> std::same_as<int>;
  { g.leader() } -> std::same_as<bool>;
  g.sync();
  { g.broadcast(word) } -> std::same_as<std::uint64_t>;
  { g.now_ns() } -> std::same_as<std::int64_t>;
  g.idle(attempt);
  g.gemm(TileGemm<float, float>{});
  g.gemm_activate(TileGemmActivation<float, float>{});
  g.activate_backward(TileActivationBackward<float, float>{});
};

// Calls f(i) for this member's share of [first, last): first + rank, first + rank + size, ...
template <typename G, typename F>
FLASHMOE_HOST_DEVICE inline void for_my_share(const G& g, std::int64_t first, std::int64_t last,
                                              F&& f) {
  for (std::int64_t i = first + g.rank(); i < last; i += g.size()) f(i);
}

}  // namespace flashmoe::portable
