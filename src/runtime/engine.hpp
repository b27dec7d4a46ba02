// The fused engine, ranks as threads of one process: each rank runs the persistent program
// (gate → dispatch → expert tiles → combine, and the backward in reverse) on its own workers,
// talking to the other ranks only through one-sided puts and signals into their symmetric
// buffers. This is the `cpu` backend of `flashmoe run` and `flashmoe bench`.
#pragma once

#include <string>

#include "flashmoe/problem.hpp"

namespace flashmoe::engine {

struct EngineOptions {
  // Worker threads per rank; 0 chooses max(1, hardware threads / world_size). Results are
  // bitwise identical for every value (SPEC §5).
  int workers_per_rank = 0;
  // When non-empty, a Chrome/Perfetto JSON trace of every task on every worker of every rank.
  std::string trace_path;
};

// Runs problem (forward, and backward when problem.backward) with problem.world_size ranks in
// this process. Results hold, per rank, everything Results documents; Results.seconds holds
// "forward", "backward" and the per-stage split (e.g. "forward.gate", "forward.expert_gemm",
// "forward.combine", "forward.wait", ...; summed over workers, in seconds).
Results run_in_process(const Problem& problem, const EngineOptions& options = {});

}  // namespace flashmoe::engine
