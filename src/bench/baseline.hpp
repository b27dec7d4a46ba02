// The bulk-synchronous baseline: the same MoE layer (SPEC §2–3) computed the conventional way,
// phase after phase with a barrier between phases — gate → pack rows per destination →
// all-to-all exchange → per-expert GEMMs → exchange back → combine — and the backward in the
// same style. Ranks are simulated in this process; the exchange is a copy of every routed row
// into per-expert contiguous buffers, as an all-to-all would deliver them. It shares the tile
// GEMM (platform/cpu/gemm.hpp) and the math layer with the engine and nothing else, so the
// benchmark's comparison measures the execution model, not different kernels.
#pragma once

#include <memory>

#include "flashmoe/problem.hpp"

namespace flashmoe::bench {

struct BaselineOptions {
  // Worker threads per rank; the pool has world_size × workers_per_rank threads, the same total
  // as the engine. 0 chooses max(1, hardware threads / world_size), as the engine does in
  // process.
  int workers_per_rank = 0;
};

// The baseline layer held across passes, as a training or serving loop holds it: the thread
// pool and every buffer are made once and reused, so a pass costs what the conventional
// execution costs, not the set-up. `problem` must outlive the layer; its tensors are read at
// every pass (values may change, shapes may not). backward() needs a forward() of a problem
// with backward = true (the forward then keeps z for it). results() holds what run_baseline
// returns, refreshed by each pass; Results.seconds describes the latest forward (+ backward).
class BaselineLayer {
 public:
  explicit BaselineLayer(const Problem& problem, const BaselineOptions& options = {});
  // The passes of one layer: every rank in this process (baseline.cpp), or one rank of an MPI
  // job (mpi/mpi_baseline.hpp, make_mpi_baseline). Defined in baseline_state.hpp.
  struct Impl;
  explicit BaselineLayer(std::unique_ptr<Impl> impl);
  ~BaselineLayer();
  BaselineLayer(BaselineLayer&&) noexcept;
  BaselineLayer(const BaselineLayer&) = delete;
  BaselineLayer& operator=(const BaselineLayer&) = delete;

  void forward();
  void backward();
  const Results& results() const;

 private:
  std::unique_ptr<Impl> impl_;
};

// Runs problem (forward, and backward when problem.backward) for every rank. Supported dtypes:
// fp64, fp32, bf16 (fp16 is refused: the CPU GEMM has no fp16 path). Results: per rank out,
// routing, aux and z losses, and with backward dx, dwg, dw1, db1, dw2, db2, all in the
// accumulation type (f64 for fp64, f32 otherwise). Results.seconds holds the wall time of
// "forward" and "backward" and of each phase: "forward.gate", "forward.dispatch",
// "forward.expert_gemm", "forward.combine", "backward.dispatch", "backward.expert_gemm",
// "backward.weight_gemm", "backward.combine" (phases are separated by barriers, so these are
// wall times with every thread busy in that phase, not sums over threads).
// Deterministic: bitwise-identical results for every thread count.
Results run_baseline(const Problem& problem, const BaselineOptions& options = {});

}  // namespace flashmoe::bench
