// The baseline's unit of parallel work: a block of rows of one owner (a rank's tokens, an
// expert's received rows, a weight gradient's output rows). A phase runs all its blocks on the
// pool and returns when they are done — the barrier of the bulk-synchronous model. Block
// boundaries depend only on the shapes, never on the thread count, so results do not either.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "bench/thread_pool.hpp"

namespace flashmoe::bench::detail {

using BlockList = std::vector<std::pair<std::int64_t, std::int64_t>>;  // (owner, first row)

// (owner, first row) of every block of `block` rows, for owners with rows[owner] rows each,
// in owner order; an owner with no rows has no block.
inline BlockList blocks(const std::vector<std::int64_t>& rows, std::int64_t block) {
  BlockList result;
  for (std::size_t owner = 0; owner < rows.size(); ++owner)
    for (std::int64_t first = 0; first < rows[owner]; first += block)
      result.emplace_back(static_cast<std::int64_t>(owner), first);
  return result;
}

// Runs fn(owner, first) for every block on the pool and returns when all are done.
template <typename Fn>
void for_blocks(ThreadPool& pool, const BlockList& list, Fn&& fn) {
  pool.parallel_for(static_cast<std::int64_t>(list.size()), [&](std::int64_t i) {
    const auto& [owner, first] = list[static_cast<std::size_t>(i)];
    fn(owner, first);
  });
}

}  // namespace flashmoe::bench::detail
