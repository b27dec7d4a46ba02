// Internal state of the bulk-synchronous baseline (not part of the API). T is the storage type
// (double, float or bfloat16); Acc the accumulation type (double for fp64, else float). Every
// phase function handles one task — a block of tokens of one rank, or a block of rows of one
// expert — so the orchestration in baseline.cpp can run the tasks of a phase on the pool and
// then meet at the barrier. Task boundaries depend only on the shapes, never on the threads.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "bench/baseline.hpp"
#include "bench/thread_pool.hpp"
#include "flashmoe/error.hpp"
#include "flashmoe/half.hpp"
#include "flashmoe/problem.hpp"

namespace flashmoe::bench {

struct BaselineLayer::Impl {
  virtual ~Impl() = default;
  virtual void forward() = 0;
  virtual void backward() = 0;
  Results results;  // refreshed by each pass
};

}  // namespace flashmoe::bench

namespace flashmoe::bench::detail {

// Impl<T> built from `args`, T the storage type of `dtype` (fp64: double, fp32: float, bf16:
// bfloat16). fp16 is refused: the CPU GEMM has no fp16 path. `who` names the caller.
template <template <typename> class Impl, typename... Args>
std::unique_ptr<BaselineLayer::Impl> make_for_dtype(const char* who, DType dtype, Args&&... args) {
  switch (dtype) {
    case DType::fp64:
      return std::make_unique<Impl<double>>(std::forward<Args>(args)...);
    case DType::fp32:
      return std::make_unique<Impl<float>>(std::forward<Args>(args)...);
    case DType::bf16:
      return std::make_unique<Impl<bfloat16>>(std::forward<Args>(args)...);
    case DType::fp16:
      break;
  }
  FLASHMOE_FAIL(who, ": dtype = ", to_string(dtype),
                " is not supported (allowed: fp64, fp32, bf16; the CPU GEMM has no fp16 path)");
}

template <typename T>
using AccOf = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Rows per task: token blocks for the gate/pack/combine, row blocks for expert GEMMs, output
// row blocks for weight gradients. Large enough for efficient GEMMs, small enough to keep a
// few threads busy on one expert.
inline constexpr std::int64_t kTokenBlock = 256;
inline constexpr std::int64_t kRowBlock = 256;

template <typename T>
struct RankState {
  using Acc = AccOf<T>;
  std::int64_t tokens = 0;               // S_r
  const T* x = nullptr;                  // [S, H]
  const T* dout = nullptr;               // [S, H]  backward only
  std::vector<Acc> logits, probs;        // [S, E]
  std::vector<Acc> lse;                  // [S]
  std::vector<std::int32_t> topk_index;  // [S, k]
  std::vector<Acc> topk_weight;          // [S, k]
  std::vector<std::uint8_t> kept;        // [S, k]
  std::vector<std::int32_t> position;    // [S, k]  row in the (rank, expert) packet, −1 dropped
  std::vector<std::int64_t> routed, accepted;  // [E]
  std::vector<std::int64_t> packet_offset;     // [E + 1] first row of the packet for expert e
  std::vector<T> send_rows;       // [Σ accepted, H]  x rows (forward), dy rows (backward)
  std::vector<Acc> y_rows;        // [Σ accepted, H]  expert outputs, returned
  std::vector<Acc> dx_rows;       // [Σ accepted, H]  input gradients, returned
  std::vector<Acc> slot_dweight;  // [S, k]  r[t, j] = ⟨dout[t], y⟩, 0 when dropped
  std::vector<Acc> dlogits;       // [S, E]
  std::vector<Acc> out;           // [S, H]
  std::vector<Acc> dx;            // [S, H]
  std::vector<Acc> dwg;           // [E, H]
  double aux_loss = 0.0, z_loss = 0.0;
};

// One global expert, held by its owner rank: the rows it received and what it computed on them.
template <typename T>
struct ExpertState {
  using Acc = AccOf<T>;
  const T* w1 = nullptr;                    // [R, H]
  const T* w2 = nullptr;                    // [H, P]
  std::vector<Acc> b1, b2;                  // [R], [H]  empty without bias (GEMM bias is Acc)
  std::vector<std::int64_t> source_offset;  // [W + 1] first row received from rank r
  std::int64_t rows = 0;                    // N = Σ_r accepted_r[e]
  std::vector<T> x;                         // [N, H]
  std::vector<Acc> z;                       // [N, R]  pre-activation, kept for backward
  std::vector<T> h;                         // [N, P]
  std::vector<Acc> y;                       // [N, H]
  std::vector<T> dy;                        // [N, H]
  std::vector<T> dz;                        // [N, R]
  std::vector<Acc> dx;                      // [N, H]
  Acc* dw1 = nullptr;                       // [R, H]  into the owner's RankOutputs
  Acc* db1 = nullptr;                       // [R]     null without bias
  Acc* dw2 = nullptr;                       // [H, P]
  Acc* db2 = nullptr;                       // [H]     null without bias
};

template <typename T>
struct BaselineState {
  const Problem* problem = nullptr;
  std::int64_t hidden = 0, ffn = 0, experts = 0, top_k = 0, w1_rows = 0, local_experts = 0;
  std::vector<AccOf<T>> wg_acc;  // [E, H]  wg widened for the fp32 gate backward (bf16 only)
  std::vector<RankState<T>> ranks;
  std::vector<ExpertState<T>> experts_state;  // [E], global expert index
};

// baseline_setup.cpp — set-up split by owner, so that the in-process baseline sets up every
// rank and expert and the MPI one only its own rank and its local experts.
template <typename T>
void set_up_shapes(BaselineState<T>& s, const Problem& problem);  // sizes ranks, experts_state
template <typename T>
void set_up_rank(BaselineState<T>& s, int rank);  // inputs and forward buffers of one rank
template <typename T>
void set_up_expert(BaselineState<T>& s, std::int64_t expert);  // weight views of its owner
// Backward buffers: the gate path's of one rank and its gradient tensors in `outputs`, zeroed
// (the owner's dw1, dw2, db1, db2 for its local experts) ...
template <typename T>
void set_up_rank_backward(BaselineState<T>& s, int rank, RankOutputs& outputs);
// ... and an expert's gradient pointers into its owner's `outputs`.
template <typename T>
void set_up_expert_backward(BaselineState<T>& s, std::int64_t expert, RankOutputs& owner_outputs);
template <typename T>
void set_up_gate_backward(BaselineState<T>& s);  // wg widened for the gate backward (bf16)
// A rank's forward results (out, routing record, losses) into `outputs`, and its backward
// results (dx, dwg); tensors keep their storage when the shape is unchanged.
template <typename T>
void store_forward_outputs(const BaselineState<T>& s, int rank, RankOutputs& outputs);
template <typename T>
void store_backward_outputs(const BaselineState<T>& s, int rank, RankOutputs& outputs);

// baseline_gate.cpp
template <typename T>
void gate_forward_block(BaselineState<T>& s, int rank, std::int64_t first_token);
template <typename T>
void route_rank(BaselineState<T>& s, int rank);  // capacity, slots, packet offsets, losses
template <typename T>
void gate_backward_block(BaselineState<T>& s, int rank, std::int64_t first_token);
template <typename T>
void gate_weight_gradient(BaselineState<T>& s, int rank);  // dwg = dlogitsᵀ·x

// baseline_exchange.cpp
template <typename T>
void pack_x_block(BaselineState<T>& s, int rank, std::int64_t first_token);
template <typename T>
void pack_dy_block(BaselineState<T>& s, int rank, std::int64_t first_token);
template <typename T>
void size_expert(BaselineState<T>& s, std::int64_t expert);  // source offsets, buffers
// The all-to-all: expert's rows from every source rank (forward x, backward dy) ...
template <typename T>
void receive_rows(BaselineState<T>& s, std::int64_t expert, bool backward);
// ... and the way back (forward y, backward dx) into the source ranks' slot buffers.
template <typename T>
void return_rows(BaselineState<T>& s, std::int64_t expert, bool backward);
template <typename T>
void combine_block(BaselineState<T>& s, int rank, std::int64_t first_token);

// baseline_experts.cpp
template <typename T>
void expert_forward_block(BaselineState<T>& s, std::int64_t expert, std::int64_t first_row,
                          bool keep_for_backward);
template <typename T>
void expert_backward_block(BaselineState<T>& s, std::int64_t expert, std::int64_t first_row);
template <typename T>
void expert_weight_gradient_block(BaselineState<T>& s, std::int64_t expert, bool first_layer,
                                  std::int64_t first_output_row);
// The expert phases over the experts [first, first + count) (all of them in process, the local
// ones over MPI): every row block on the pool, returning when all are done.
template <typename T>
void expert_forward_phase(BaselineState<T>& s, ThreadPool& pool, std::int64_t first,
                          std::int64_t count, bool keep_for_backward);
template <typename T>
void expert_backward_phase(BaselineState<T>& s, ThreadPool& pool, std::int64_t first,
                           std::int64_t count);
// dw1 (w1_rows output rows) and dw2 (H output rows) of each expert, in output-row blocks.
template <typename T>
void expert_weight_gradient_phase(BaselineState<T>& s, ThreadPool& pool, std::int64_t first,
                                  std::int64_t count);

}  // namespace flashmoe::bench::detail
