#include "bench/flop_count.hpp"

namespace flashmoe::bench {

FlopCount count_flops(const Config& c, std::int64_t total_tokens, std::int64_t kept_slots) {
  const double H = static_cast<double>(c.hidden), P = static_cast<double>(c.ffn);
  const double R = static_cast<double>(c.w1_rows()), E = static_cast<double>(c.experts);
  FlopCount count;
  count.gate_forward = 2.0 * static_cast<double>(total_tokens) * H * E;
  count.kept_slots = kept_slots;
  count.expert_forward = static_cast<double>(kept_slots) * 2.0 * H * (R + P);
  return count;
}

std::int64_t kept_slots(const Results& results) {
  std::int64_t kept = 0;
  for (const RankOutputs& rank : results.ranks)
    for (const std::int64_t accepted : rank.routing.accepted) kept += accepted;
  return kept;
}

}  // namespace flashmoe::bench
