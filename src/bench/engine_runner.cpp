#include "bench/engine_runner.hpp"

#include "bench/baseline.hpp"
#include "runtime/engine.hpp"

namespace flashmoe::bench {
namespace {

// Layer is engine::InProcessLayer or bench::BaselineLayer: the same three calls.
template <typename Layer>
class Session final : public LayerSession {
 public:
  template <typename Options>
  Session(const Problem& problem, const Options& options) : layer_(problem, options) {}
  void forward() override { layer_.forward(); }
  void backward() override { layer_.backward(); }
  const Results& results() const override { return layer_.results(); }

 private:
  Layer layer_;
};

}  // namespace

std::unique_ptr<LayerSession> make_engine_session(const Problem& problem, int workers_per_rank) {
  engine::EngineOptions options;
  options.workers_per_rank = workers_per_rank;
  return std::make_unique<Session<engine::InProcessLayer>>(problem, options);
}

std::unique_ptr<LayerSession> make_baseline_session(const Problem& problem, int workers_per_rank) {
  return std::make_unique<Session<BaselineLayer>>(
      problem, BaselineOptions{.workers_per_rank = workers_per_rank});
}

}  // namespace flashmoe::bench
