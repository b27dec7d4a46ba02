// LayerCall: one forward of an MoE layer and, later, its backward — the context the Python
// autograd Function keeps between the two.
//
// In one process with the cpu engine and keep_for_backward, the call keeps the engine's layer
// (engine::Layer: its workspaces hold what the backward needs — routing, received
// rows, pre-activations) from the forward to the first backward, which then runs from that
// state: no recomputation. Otherwise (other backends, an MPI world, a second backward with
// retain_graph) backward() recomputes: it re-runs the call with backward = true on the inputs
// copied at forward time and checks that the routing equals the forward's (the backends are
// deterministic, SPEC §5). Over MPI the recomputation stays on purpose: a kept layer holds an
// MPI window, whose release is collective, and the ranks would free it whenever their Python
// garbage collector drops the autograd graph — not in step.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend_table.hpp"
#include "buffer_ref.hpp"
#include "engine_pool.hpp"
#include "engine/engine.hpp"
#include "flashmoe/problem.hpp"

namespace flashmoe::python {

// Where this process sits among the expert-parallel ranks: W = 1 runs in this process alone; W > 1
// is one rank of an MPI job (size and rank must be MPI_COMM_WORLD's; built with MPI only). Over
// MPI the constructor and backward() are collective: every rank makes them, in the same order.
struct WorldInfo {
  int size = 1;
  int rank = 0;
};

struct LayerInputs {
  BufferRef x, wg, w1, w2;
  std::optional<BufferRef> b1, b2;  // required when config.bias, refused otherwise
};

class LayerCall {
 public:
  // Copies every input (the caller may change its tensors afterwards) and runs the forward.
  // keep_for_backward: a backward will follow (autograd needs gradients), so keep the engine's
  // state for it where that is possible (above).
  LayerCall(Config config, const LayerInputs& inputs, std::string_view backend, WorldInfo world,
            bool keep_for_backward = false);
  ~LayerCall();
  LayerCall(const LayerCall&) = delete;
  LayerCall& operator=(const LayerCall&) = delete;

  // Gradients for the upstream dout [S, H] and the upstream gradients of the two losses.
  void backward(const BufferRef& dout, double d_aux, double d_z);

  // Forward results: out, topk_index, topk_weight, kept. Gradients (after backward): dx, dwg,
  // dw1, db1, dw2, db2. Throws ArgumentError for an unknown or absent name.
  void copy_out(std::string_view name, const BufferRef& destination) const;

  const Config& config() const { return problem().config; }
  std::string_view backend() const { return backend_->name; }
  std::int64_t tokens() const { return problem().tokens(rank_); }
  double aux_loss() const { return own(forward_).aux_loss; }
  double z_loss() const { return own(forward_).z_loss; }
  const std::vector<std::int64_t>& routed() const { return own(forward_).routing.routed; }
  const std::vector<std::int64_t>& accepted() const { return own(forward_).routing.accepted; }
  bool has_gradients() const { return gradients_.has_value(); }
  // Whether the next backward() runs from the kept forward state instead of recomputing.
  bool keeps_forward_state() const { return kept_.has_value(); }
  // Seconds by phase of the last run (forward, or the backward call).
  const std::map<std::string, double>& seconds() const;

 private:
  // Checks and copies the arguments into problem_ (this rank's entry; the others stay empty);
  // local, no collective.
  void prepare(Config config, const LayerInputs& inputs, std::string_view backend, WorldInfo world);
  const HostTensor& result(std::string_view name) const;
  // The forward (or forward + backward) of problem_: the backend in process, or this rank of the
  // MPI job through the engine when W > 1.
  Results run() const;
  const RankOutputs& own(const Results& results) const {
    return results.ranks.at(static_cast<std::size_t>(rank_));
  }
  void check_same_routing(const Results& recomputed) const;
  // The call's inputs: in the kept lease's problem while the call holds one, else problem_.
  const Problem& problem() const { return kept_ ? *kept_->anchor : problem_; }
  Problem& problem() { return kept_ ? *kept_->anchor : problem_; }
  // The cpu engine in this process (W = 1): its layers come from the EnginePool.
  bool pooled() const;
  // The forward, or forward + backward (problem().backward), on a leased layer that goes back
  // to the pool afterwards; or, with keep, stays in kept_ for the first backward.
  Results run_pooled(bool keep);

  Problem problem_;
  const Backend* backend_ = nullptr;
  int rank_ = 0;
  Results forward_;
  std::optional<Results> gradients_;
  // The engine's layer kept from the forward for the first backward, with the call's inputs in
  // its problem (engine_pool.hpp).
  std::optional<EnginePool::Lease> kept_;
};

}  // namespace flashmoe::python
