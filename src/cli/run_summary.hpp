// The human-readable report of one `flashmoe run`: configuration, tokens per rank, tokens per
// expert before and after capacity, drops, losses and timings.
#pragma once

#include <ostream>
#include <string_view>

#include "flashmoe/problem.hpp"

namespace flashmoe::cli {

// `wall_seconds`: the backend call as measured by the command (Results.seconds adds the
// backend's own phases when it reports them). Reads the problem's configuration and pass
// settings, not its tensors, and of `results` every rank's routing record and losses (what
// gather_results with GatherScope::routing_and_losses brings to rank 0 under MPI).
void print_summary(std::ostream& out, const Problem& problem, const Results& results,
                   std::string_view backend, double wall_seconds);

// Experts up to this count are listed one by one; beyond it as min/mean/max and a histogram.
inline constexpr std::int64_t kListExpertsUpTo = 16;

}  // namespace flashmoe::cli
