// Internal state of the reference (not part of the public API): the problem widened to the
// arithmetic type T, and what the forward pass keeps for the backward pass. Everything is a
// plain row-major std::vector<T>; each member's comment gives its shape. The step functions
// declared here are defined in the .cpp file named next to them and instantiated for float
// and double only.
#pragma once

#include <cstdint>
#include <vector>

#include "flashmoe/problem.hpp"

namespace flashmoe::reference::detail {

// One rank's inputs in T.
template <typename T>
struct RankTensors {
  std::int64_t tokens = 0;  // S_r
  std::vector<T> x;         // [S_r, H]
  std::vector<T> dout;      // [S_r, H]   empty without backward
  std::vector<T> w1;        // [L, R, H]  L = E/W local experts, R = w1_rows (P or 2P)
  std::vector<T> b1;        // [L, R]     zeros without bias, so the math needs no branch
  std::vector<T> w2;        // [L, H, P]
  std::vector<T> b2;        // [L, H]     zeros without bias
};

// The whole problem (every rank) in T.
template <typename T>
struct Model {
  Config config;
  int world_size = 1;
  std::int64_t local_experts = 0;  // L = E / W
  std::vector<T> wg;               // [E, H]
  std::vector<RankTensors<T>> ranks;
  T d_aux = T(0);
  T d_z = T(0);
};

// Read-only view of one global expert's weights on its owner rank.
template <typename T>
struct ExpertWeights {
  const T* w1;  // [R, H]
  const T* b1;  // [R]
  const T* w2;  // [H, P]
  const T* b2;  // [H]
};

// Gradient accumulators of one global expert on its owner rank.
template <typename T>
struct ExpertGradients {
  T* dw1;  // [R, H]
  T* db1;  // [R]
  T* dw2;  // [H, P]
  T* db2;  // [H]
};

// §2.1 for one rank.
template <typename T>
struct GateOutput {
  std::vector<T> logits;  // [S, E]
  std::vector<T> probs;   // [S, E]  softmax of logits
  std::vector<T> lse;     // [S]     logsumexp of each logits row
};

// §2.2–2.5 for one rank (or the replay of a given routing).
template <typename T>
struct RoutingDecision {
  std::vector<std::int32_t> topk_index;  // [S, k]  e_j(t)
  std::vector<T> topk_weight;            // [S, k]  w[t, j]
  std::vector<std::uint8_t> kept;        // [S, k]  1 when slot j of token t reached its expert
  std::vector<std::int64_t> routed;      // [E]     slots per expert before capacity
  std::vector<std::int64_t> accepted;    // [E]     slots per expert after capacity
};

// §2.6 for one kept slot: what the backward pass needs again.
template <typename T>
struct SlotActivations {
  std::vector<T> pre;  // [R]  z = w1·x + b1; gated: rows 0..P−1 are g, rows P..2P−1 are u
  std::vector<T> h;    // [P]  act(z), or act(g) ⊙ u
  std::vector<T> y;    // [H]  w2·h + b2
};

// Everything the forward pass computed on one rank.
template <typename T>
struct RankForward {
  GateOutput<T> gate;
  RoutingDecision<T> routing;
  std::vector<SlotActivations<T>> slots;  // [S, k]  empty vectors for dropped slots
  std::vector<T> out;                     // [S, H]
  T aux_loss = T(0);
  T z_loss = T(0);
};

// Gradients held by one rank: dx and dwg for its tokens, expert gradients for its experts.
template <typename T>
struct RankGradients {
  std::vector<T> dx;   // [S_r, H]
  std::vector<T> dwg;  // [E, H]     this rank's contribution
  std::vector<T> dw1;  // [L, R, H]  summed over every token from every rank
  std::vector<T> db1;  // [L, R]
  std::vector<T> dw2;  // [L, H, P]
  std::vector<T> db2;  // [L, H]
};

// inputs.cpp: widen (or round) every input tensor of the problem to T.
template <typename T>
Model<T> widen_problem(const Problem& problem);
// inputs.cpp: the owner rank's weights of global expert e (rank e / L, local index e mod L).
template <typename T>
ExpertWeights<T> expert_weights(const Model<T>& model, std::int64_t expert);
template <typename T>
ExpertGradients<T> expert_gradients(const Model<T>& model, std::vector<RankGradients<T>>& grads,
                                    std::int64_t expert);

// gate.cpp, §2.1: logits = x·wgᵀ accumulated in T, softmax and logsumexp per token.
template <typename T>
GateOutput<T> compute_gate(const Model<T>& model, int rank);

// routing.cpp, §2.2–2.5: top-k, weights, capacity and slot assignment from this gate.
template <typename T>
RoutingDecision<T> decide_routing(const Model<T>& model, int rank, const GateOutput<T>& gate);
// routing.cpp: the same record with topk_index and kept taken from `given` (validated; errors
// name the rank and the tensor); weights still come from this gate's probabilities.
template <typename T>
RoutingDecision<T> replay_routing(const Model<T>& model, int rank, const GateOutput<T>& gate,
                                  const RoutingOverride& given);
// routing.cpp, §2.3: w[t, j] from the probabilities of the chosen experts.
template <typename T>
std::vector<T> routing_weights(const Config& config, const GateOutput<T>& gate,
                               const std::vector<std::int32_t>& topk_index,
                               std::int64_t tokens);  // [S, k]

// experts.cpp, §2.6: one expert on one token row x_t [H].
template <typename T>
SlotActivations<T> expert_forward(const Config& config, const ExpertWeights<T>& expert,
                                  const T* x_row);
// experts.cpp, §3: backward of one slot given dy [H]; accumulates the expert's gradients and
// adds the input gradient into dx_row [H].
template <typename T>
void expert_backward(const Config& config, const ExpertWeights<T>& expert,
                     const SlotActivations<T>& slot, const T* x_row, const T* dy,
                     ExpertGradients<T> grads, T* dx_row);

// losses.cpp, §2.8 (S_r = 0 gives 0).
template <typename T>
T load_balance_loss(const Config& config, const GateOutput<T>& gate,
                    const RoutingDecision<T>& routing, std::int64_t tokens);
template <typename T>
T router_z_loss(const GateOutput<T>& gate, std::int64_t tokens);
// losses.cpp, §3: ∂(d_aux·l_aux)/∂p[t, e], the same for every token t.  [E]
template <typename T>
std::vector<T> load_balance_dprobs(const Config& config, const RoutingDecision<T>& routing,
                                   std::int64_t tokens, T d_aux);
// losses.cpp, §3: adds ∂(d_z·l_z)/∂logits[t, :] into dlogits_row [E].
template <typename T>
void add_z_loss_dlogits(const GateOutput<T>& gate, std::int64_t token, std::int64_t tokens,
                        std::int64_t experts, T d_z, T* dlogits_row);

// forward.cpp: §2 on one rank (routing replayed from `given` when non-null).
template <typename T>
RankForward<T> forward_rank(const Model<T>& model, int rank, const RoutingOverride* given);

// backward.cpp: §3 for one rank's tokens. dx and dwg go to grads[rank]; expert gradients go to
// the owner ranks' accumulators in grads (sized by zero_gradients).
template <typename T>
std::vector<RankGradients<T>> zero_gradients(const Model<T>& model);
template <typename T>
void backward_rank(const Model<T>& model, int rank, const RankForward<T>& forward,
                   std::vector<RankGradients<T>>& grads);

}  // namespace flashmoe::reference::detail
