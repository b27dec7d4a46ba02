// The fused engine as the benchmark sees it.
#pragma once

#include "flashmoe/problem.hpp"

namespace flashmoe::bench {

// engine::run_in_process(problem, {workers_per_rank}).
Results run_engine(const Problem& problem, int workers_per_rank);

}  // namespace flashmoe::bench
