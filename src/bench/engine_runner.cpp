#include "bench/engine_runner.hpp"

#include "runtime/engine.hpp"

namespace flashmoe::bench {

Results run_engine(const Problem& problem, int workers_per_rank) {
  engine::EngineOptions options;
  options.workers_per_rank = workers_per_rank;
  return engine::run_in_process(problem, options);
}

}  // namespace flashmoe::bench
