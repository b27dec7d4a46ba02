#include "bench/engine_runner.hpp"

#include "bench/baseline.hpp"
#include "engine/engine.hpp"

namespace flashmoe::bench {

std::unique_ptr<LayerSession> make_engine_session(const Problem& problem,
                                                  const engine::EngineOptions& options) {
  return std::make_unique<LayerSessionOf<engine::Layer>>(problem, options);
}

std::unique_ptr<LayerSession> make_baseline_session(const Problem& problem, int workers_per_rank) {
  return std::make_unique<LayerSessionOf<BaselineLayer>>(
      problem, BaselineOptions{.workers_per_rank = workers_per_rank});
}

}  // namespace flashmoe::bench
