// Expert capacity and deterministic slot assignment (SPEC §2.4–2.5).
#pragma once

#include <cmath>
#include <cstdint>

#include "flashmoe/macros.hpp"

namespace flashmoe::math {

// C_r = ceil(capacity_factor · S_r · k / E) clamped to [1, S_r]; 0 when S_r = 0; S_r when
// dropless. The product S_r·k is formed in integers, so the only rounding is the final division.
FLASHMOE_HOST_DEVICE inline std::int64_t expert_capacity(std::int64_t tokens, std::int64_t top_k,
                                                         std::int64_t experts,
                                                         double capacity_factor, bool drop_tokens) {
  if (tokens == 0) return 0;
  if (!drop_tokens) return tokens;
  const double exact =
      capacity_factor * static_cast<double>(tokens * top_k) / static_cast<double>(experts);
  std::int64_t capacity = static_cast<std::int64_t>(std::ceil(exact));
  if (capacity < 1) capacity = 1;
  if (capacity > tokens) capacity = tokens;
  return capacity;
}

// Sequential slot assignment for one rank's tokens ("position" policy): for every expert the
// tokens that chose it are ranked by ascending token index and the first `capacity` are kept.
//   topk_index [tokens, k]    expert of each slot
//   kept       [tokens, k]    out: 1 when the slot got a place in its expert's packet
//   position   [tokens, k]    out: the row of the slot in its expert's packet (−1 if dropped)
//   routed     [experts]      out: tokens per expert before capacity
//   accepted   [experts]      out: tokens per expert after capacity (= packet rows)
// Parallel backends compute the same result from per-tile counts and an exclusive prefix sum
// over tiles in token order; this function is their specification.
inline void assign_slots(const std::int32_t* topk_index, std::int64_t tokens, std::int64_t top_k,
                         std::int64_t experts, std::int64_t capacity, std::uint8_t* kept,
                         std::int32_t* position, std::int64_t* routed, std::int64_t* accepted) {
  for (std::int64_t e = 0; e < experts; ++e) routed[e] = accepted[e] = 0;
  for (std::int64_t t = 0; t < tokens; ++t) {
    for (std::int64_t j = 0; j < top_k; ++j) {
      const std::int64_t slot = t * top_k + j;
      const std::int32_t e = topk_index[slot];
      const std::int64_t rank_in_expert = routed[e]++;
      const bool keep = rank_in_expert < capacity;
      kept[slot] = keep ? 1 : 0;
      position[slot] = keep ? static_cast<std::int32_t>(rank_in_expert) : -1;
      if (keep) ++accepted[e];
    }
  }
}

}  // namespace flashmoe::math
