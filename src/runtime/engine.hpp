// The fused engine, ranks as threads of one process: each rank runs the persistent program
// (gate → dispatch → expert tiles → combine, and the backward in reverse) on its own workers,
// talking to the other ranks only through one-sided puts and signals into their symmetric
// buffers. This is the `cpu` backend of `flashmoe run` and `flashmoe bench`. docs/engine.md
// describes the protocol.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "flashmoe/problem.hpp"
#include "runtime/fault_injection.hpp"
#include "runtime/layer_world.hpp"
#include "runtime/tile_shape.hpp"
#include "runtime/workspace_layout.hpp"

namespace flashmoe::engine {

struct EngineOptions {
  // Worker threads per rank; 0 chooses max(1, hardware threads / ranks on this node) — every
  // rank in process, or the MPI job's processes on this node. Results are bitwise identical
  // for every value (SPEC §5).
  int workers_per_rank = 0;
  // When non-empty, a Chrome/Perfetto JSON trace of every task on every worker of every rank.
  std::string trace_path;
  // Task tile sizes. Results are bitwise identical across worker counts for a given tile shape
  // (a different tile shape may change the last bits, as a different GEMM blocking would).
  runtime::TileShape tiles;
  // Test-only failure injection (see fault_injection.hpp).
  runtime::FaultInjection faults;
};

// One MoE layer held by the engine on every rank: its workspaces and the context forward
// leaves for backward (routing, received x rows, z, h, returned y rows). No process globals:
// several layers coexist. Result conventions (SPEC §4): out and dx hold values rounded to the
// layer's dtype, returned in its accumulation type (f64 for fp64, f32 for fp32 and bf16 — the
// bf16 values upcast exactly); topk_weight, dwg, dw1, db1, dw2, db2 are in the accumulation
// type. fp16 is refused on this backend.
class InProcessLayer {
 public:
  // `problem` must outlive the layer: its tensors are read in place at every pass, so their
  // values may change between passes (new x, dout, weights); their shapes may not.
  explicit InProcessLayer(const Problem& problem, EngineOptions options = {});
  // The same layer over another world: it drives only world's local ranks (an MPI world: this
  // process's rank; runtime/mpi_layer_world.hpp) and fills only their entries of results().
  // Only the local ranks' entries of problem.ranks are read.
  InProcessLayer(const Problem& problem, EngineOptions options,
                 const runtime::LayerWorldFactory& world);
  ~InProcessLayer();
  InProcessLayer(const InProcessLayer&) = delete;
  InProcessLayer& operator=(const InProcessLayer&) = delete;

  // Forward on every rank: out, routing record and losses in results().
  void forward();
  // Backward on every rank from problem.ranks[r].dout, d_aux and d_z; needs forward() first.
  void backward();
  const Results& results() const;

  // Introspection for tests: the layout and a rank's symmetric buffer (received packets and
  // returned rows stay there until the next pass overwrites them).
  const runtime::WorkspaceLayout& layout() const;
  const std::byte* symmetric_buffer(int rank) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Runs problem (forward, and backward when problem.backward) with problem.world_size ranks in
// this process. Results hold, per rank, everything Results documents; Results.seconds holds
// "forward", "backward" (wall clock) and the per-stage split "forward.<task>" (gate, route,
// dispatch, expert_up, expert_down, combine), "backward.<task>" (gate_gradient,
// announce_gradients, expert_grad_hidden, expert_grad_input, weight_grad_down, weight_grad_up,
// gate_weight_grad, input_grad), and "<pass>.subscriber" / "<pass>.idle" — seconds summed over
// every worker of every rank.
Results run_in_process(const Problem& problem, const EngineOptions& options = {});

}  // namespace flashmoe::engine
