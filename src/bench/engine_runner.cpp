#include "bench/engine_runner.hpp"

#include "bench/baseline.hpp"
#include "runtime/engine.hpp"

namespace flashmoe::bench {

std::unique_ptr<LayerSession> make_engine_session(const Problem& problem, int workers_per_rank) {
  engine::EngineOptions options;
  options.workers_per_rank = workers_per_rank;
  return std::make_unique<LayerSessionOf<engine::InProcessLayer>>(problem, options);
}

std::unique_ptr<LayerSession> make_baseline_session(const Problem& problem, int workers_per_rank) {
  return std::make_unique<LayerSessionOf<BaselineLayer>>(
      problem, BaselineOptions{.workers_per_rank = workers_per_rank});
}

}  // namespace flashmoe::bench
