#include "bench/flop_count.hpp"

namespace flashmoe::bench {

FlopCount count_flops(const Problem& problem, const Results& results) {
  const Config& c = problem.config;
  const double H = static_cast<double>(c.hidden), P = static_cast<double>(c.ffn);
  const double R = static_cast<double>(c.w1_rows()), E = static_cast<double>(c.experts);
  FlopCount count;
  for (int r = 0; r < problem.world_size; ++r)
    count.gate_forward += 2.0 * static_cast<double>(problem.tokens(r)) * H * E;
  for (const RankOutputs& rank : results.ranks)
    for (const std::int64_t accepted : rank.routing.accepted) count.kept_slots += accepted;
  count.expert_forward = static_cast<double>(count.kept_slots) * 2.0 * H * (R + P);
  return count;
}

}  // namespace flashmoe::bench
