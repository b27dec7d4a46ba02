// The backends as the benchmark holds them: one layer built once (workspaces, threads, buffers)
// and then run pass after pass, the way a training or serving loop uses a layer. The one-time
// set-up is timed apart from the passes.
#pragma once

#include <memory>
#include <utility>

#include "engine/engine.hpp"
#include "flashmoe/problem.hpp"

namespace flashmoe::bench {

class LayerSession {
 public:
  virtual ~LayerSession() = default;
  virtual void forward() = 0;
  virtual void backward() = 0;  // after forward(), on a problem with backward = true
  // The latest pass's results; Results.seconds describes the latest forward (+ backward).
  virtual const Results& results() const = 0;
};

// Any layer class with forward(), backward() and results() (engine::Layer,
// BaselineLayer), built from `args`.
template <typename Layer>
class LayerSessionOf final : public LayerSession {
 public:
  template <typename... Args>
  explicit LayerSessionOf(Args&&... args) : layer_(std::forward<Args>(args)...) {}
  void forward() override { layer_.forward(); }
  void backward() override { layer_.backward(); }
  const Results& results() const override { return layer_.results(); }

 private:
  Layer layer_;
};

// engine::Layer(problem, options).
std::unique_ptr<LayerSession> make_engine_session(const Problem& problem,
                                                  const engine::EngineOptions& options);
// bench::BaselineLayer(problem, {workers_per_rank}).
std::unique_ptr<LayerSession> make_baseline_session(const Problem& problem, int workers_per_rank);

}  // namespace flashmoe::bench
