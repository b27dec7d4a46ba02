// Engine layers kept between Python calls. Building an engine::Layer (its workspaces zero-filled,
// its program's threads started) costs about as much as a forward of the default bench shape
// (measured 2026-12-01: 355 ms per flashmoe.MoE forward against 179 ms for the same pass on a
// reused layer in `flashmoe bench`), and a training or serving loop calls the same layer shape
// again and again. So the cpu backend in one process (W = 1) leases a layer of the call's exact
// configuration from this pool: the call's inputs move into the lease's problem (the one the
// layer reads at every pass), and the call gives the layer back when it is done with it (after
// the forward, or after the backward that uses the forward's kept state), taking its inputs
// back. A call that finds no idle layer of its configuration builds one.
//
// Bounded: at most kIdleLayers layers wait idle (their threads asleep), the least recently
// returned dropped first. Thread-safe: Python threads may call layers concurrently; each leased
// layer serves one call at a time.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>

#include "engine/engine.hpp"
#include "flashmoe/problem.hpp"

namespace flashmoe::python {

class EnginePool {
 public:
  static constexpr std::size_t kIdleLayers = 4;

  // A layer and the problem it reads (built for its configuration and world size; the inputs
  // are the leasing call's while it holds the lease).
  struct Lease {
    std::unique_ptr<Problem> anchor;
    std::unique_ptr<engine::Layer> layer;
  };

  static EnginePool& instance();

  // An idle layer whose configuration and world size equal problem's, or a new one; problem's
  // inputs (tensors, backward flag, loss gradients) move into lease.anchor.
  Lease acquire(Problem& problem);
  // Back to the pool. The caller takes its inputs back first (move_inputs); a lease whose pass
  // failed is dropped instead (its workspaces' state is unknown).
  void release(Lease lease);
  std::size_t idle() const;

 private:
  mutable std::mutex mutex_;
  std::list<Lease> idle_;  // most recently returned first
};

// Moves the inputs of `from` (tensors, backward flag, loss gradients) into `to`; the
// configuration and world size stay.
void move_inputs(Problem& from, Problem& to);

}  // namespace flashmoe::python
