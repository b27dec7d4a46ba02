// The fused engine on the CPU (the `cpu` backend of `flashmoe run`, `flashmoe bench` and the
// Python package): each rank runs the persistent program of src/runtime — gate → dispatch →
// expert tiles → combine, and the backward in reverse — on its own participants (processor
// groups of threads, and with dedicated roles a scheduler and subscriber threads), talking to the
// other ranks only through the transport's one-sided puts and signals. The ranks are threads of
// this process (this header), or one rank per MPI process (engine/mpi_layer.hpp). The program's
// threads live as long as the layer and run pass after pass on their own; the host only submits
// a pass and waits for it (docs/engine.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "flashmoe/problem.hpp"
#include "runtime/fault_injection.hpp"
#include "runtime/program.hpp"
#include "runtime/tile_shape.hpp"
#include "runtime/workspace_layout.hpp"

namespace flashmoe::engine {

struct EngineOptions {
  // Processor groups per rank; 0 chooses max(1, hardware threads / ranks on this node) — every
  // rank in process, or the MPI job's processes on this node. Results are bitwise identical
  // for every value (SPEC §5).
  int workers_per_rank = 0;
  // Threads per processor group (the CPU's stand-in for a thread block). 1 is the fast CPU
  // setting; 2 and 4 make the group-cooperative actors run as they do on a GPU. Results are
  // bitwise identical for every value.
  int group_size = 1;
  // Roles: shared (idle processor groups take the scheduler's and subscribers' work, the right
  // choice with few cores) or dedicated (a scheduler thread and one thread per subscriber
  // partition beside the processors, FlashDMoE's model). Same bits either way.
  runtime::Scheduling scheduling = runtime::Scheduling::shared;
  // Subscriber partitions per rank (packets split by source rank, token tiles by index).
  int subscribers = 1;
  // When non-empty, a Chrome/Perfetto JSON trace of every task on every participant of every
  // rank, rewritten after each pass.
  std::string trace_path;
  // Task tile sizes. Results are bitwise identical across all the counts above for a given
  // tile shape (a different tile shape may change the last bits, as a different GEMM blocking
  // would).
  runtime::TileShape tiles;
  // Test-only failure injection (see fault_injection.hpp).
  runtime::FaultInjection faults;
};

// A pass submitted with Layer::submit_forward / submit_backward.
struct PassTicket {
  std::uint64_t epoch = 0;
};

class Layer;

// One MoE layer held by the engine on every rank of this process: its workspaces, the program's
// threads, and the context a forward leaves for its backward (routing, received x rows, z, h,
// returned y rows). No process globals: several layers coexist, each with its own threads.
// Result conventions (SPEC §4): out and dx hold values rounded to the layer's dtype, returned
// in its accumulation type (f64 for fp64, f32 for fp32 and bf16 — the bf16 values upcast
// exactly); topk_weight, dwg, dw1, db1, dw2, db2 are in the accumulation type. fp16 is refused.
class Layer {
 public:
  // Ranks as threads of this process. `problem` must outlive the layer: forward() and
  // backward() read its tensors in place at every pass, so their values may change between
  // passes (new x, dout, weights) and so may each rank's token count (up to max_tokens).
  explicit Layer(const Problem& problem, EngineOptions options = {});
  ~Layer();  // waits for passes still in flight, then stops the program's threads
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;
  Layer(Layer&&) noexcept;
  Layer& operator=(Layer&&) noexcept;

  // Forward on every local rank: out, routing record and losses in results().
  void forward();
  // Backward on every local rank from problem.ranks[r].dout, d_aux and d_z; needs a forward
  // since the last backward (the backward reads what that forward left).
  void backward();
  const Results& results() const;

  // Passes in flight without waiting, as a training loop queues work on a GPU stream: the
  // program runs them in order, each rank at its own pace (no fence between passes). `inputs`
  // has this layer's configuration and world; its x (and dout), token counts and weights are
  // read during the pass; `outputs` is sized here and filled by the pass. Both must stay alive
  // and unchanged until wait() returned for the ticket. A backward belongs to the latest
  // forward submitted before it. wait() rethrows the pass's error; a failed pass cancels the
  // passes submitted after it (their wait() throws too), and the layer is usable again after.
  PassTicket submit_forward(const Problem& inputs, Results& outputs);
  PassTicket submit_backward(const Problem& inputs, Results& outputs);
  void wait(PassTicket ticket);

  // Introspection for tests: the layout and a local rank's symmetric buffer (received packets
  // and returned rows stay there until a later pass overwrites them).
  const runtime::WorkspaceLayout& layout() const;
  const std::byte* symmetric_buffer(int rank) const;

  struct Impl;
  explicit Layer(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Runs problem (forward, and backward when problem.backward) with problem.world_size ranks in
// this process. Results hold, per rank, everything Results documents; Results.seconds holds
// "forward", "backward" (from the first rank's start to the last rank's end) and the per-stage
// split "forward.<task>" (gate, route, dispatch, expert_up, expert_down, combine),
// "backward.<task>" (gate_gradient, announce_gradients, expert_grad_hidden, expert_grad_input,
// weight_grad_down, weight_grad_up, gate_weight_grad, input_grad), and "<pass>.subscriber" /
// "<pass>.idle" — seconds summed over every participant of every rank.
Results run_in_process(const Problem& problem, const EngineOptions& options = {});

}  // namespace flashmoe::engine
