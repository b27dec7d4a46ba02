// Tasks of the persistent program. A task names a tile of work; everything else it needs is in
// the rank's workspace. Completing a task may push follow-on tasks (gate tiles → route →
// dispatch tiles; GEMM1 row tile → GEMM2 tiles → returned rows → combine tile; and the
// backward chain), so the pass is a dataflow graph with no global barrier.
#pragma once

#include <cstdint>

namespace flashmoe::runtime {

enum class TaskKind : std::uint8_t {
  // forward
  gate_tile,      // tile: token tile. logits, softmax, top-k, weights, per-expert counts
  route,          // prefix of counts over tiles, capacities, losses; pushes dispatch tiles
  dispatch_tile,  // tile: token tile. slot positions, kept flags, put x rows to owners
  expert_up,      // source, expert, tile: row tile, column: P tile. z = x·W1ᵀ + b, h = act
  expert_down,    // source, expert, tile, column: H tile. y = h·W2ᵀ + b, put to token rank
  combine_tile,   // tile: token tile. out = Σ_j w·y in order j
  // backward
  gate_gradient_tile,  // tile: token tile. r, dlogits; put dy = w·dout rows to owners
  announce_gradients,  // signals every dy packet; pushes the dwg tiles
  expert_grad_hidden,  // source, expert, tile, column: P tile. dh = dy·W2, dz = dh ⊙ act′
  expert_grad_input,   // source, expert, tile, column: H tile. dx partial = dz·W1, put back
  weight_grad_down,    // expert, column: H tile. dW2 rows = Σ_src dyᵀ·h, db2
  weight_grad_up,      // expert, column: w1-row tile. dW1 rows = Σ_src dzᵀ·x, db1
  gate_weight_grad,    // column: H tile. dwg columns = dlogitsᵀ·x
  input_grad_tile,     // tile: token tile. dx = Σ_j dx partial + dlogits·wg
};
inline constexpr int kTaskKinds = 14;

const char* task_name(TaskKind kind);

struct Task {
  TaskKind kind = TaskKind::gate_tile;
  std::int16_t source_rank = 0;   // the rank whose packet the task works on
  std::int16_t local_expert = 0;  // l in [0, E/W)
  std::int32_t tile = 0;          // token tile, or row tile inside a packet
  std::int32_t column = 0;        // column tile
};

}  // namespace flashmoe::runtime
