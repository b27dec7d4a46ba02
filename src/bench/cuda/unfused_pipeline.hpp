// The baseline the GPU engine is measured against (docs/cuda.md, "Benchmark"): the MoE layer as
// a framework runs it without a fused kernel — one kernel or cuBLAS call per step, the host
// between them. Forward: gate GEMM (cuBLAS), softmax + top-k, slot assignment in token order
// (SPEC §2.5), the expert counts copied to the host, a gather into per-expert packed rows, the
// experts' two GEMMs as grouped cuBLAS calls (cublasGemmGroupedBatchedEx, a group per expert)
// with the activation between them, the weighted combine. Backward: the
// same steps in reverse, weight gradients by cuBLAS, the gate's softmax backward, dx summed.
// Every reduction has a fixed order, so the baseline is deterministic too.
//
// Scope: one GPU, one rank (W = 1), no bias, non-gated activations, E ≤ 256, d_aux = d_z = 0 —
// what the benchmark grid needs; anything else is refused in the constructor. fp32 layers use
// tf32 tensor cores when config.allow_tf32. This header needs no CUDA header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "flashmoe/problem.hpp"
#include "flashmoe/tensor.hpp"

namespace flashmoe::bench::cuda {

class UnfusedPipeline {
 public:
  // Uploads the problem's weights and its inputs (x and dout at their full token count: a pass
  // uses their leading rows). Throws flashmoe::Error outside the scope above or on a CUDA or
  // cuBLAS error.
  UnfusedPipeline(const Problem& problem, int device);
  ~UnfusedPipeline();
  UnfusedPipeline(const UnfusedPipeline&) = delete;
  UnfusedPipeline& operator=(const UnfusedPipeline&) = delete;

  // One pass on the first `tokens` tokens; returns its GPU time in seconds (events around the
  // whole pipeline, the host's wait for the expert counts included). A backward belongs to the
  // latest forward.
  double forward(std::int64_t tokens);
  double backward();

  // Results of the latest pass, in fp32: out and dx [tokens, H], dw1 [E, P, H], dw2 [E, H, P].
  HostTensor out() const;
  HostTensor dx() const;
  HostTensor dw1() const;
  HostTensor dw2() const;
  std::int64_t kept_slots() const;  // (token, slot) pairs the latest forward kept
  // How the passes so far ran the per-expert GEMMs: grouped (one cuBLAS call per step), or, for
  // a step whose types cuBLAS's grouped call refused, one call per expert (named).
  std::string expert_gemms() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The dense ceiling: the rate (FLOP/s) of one cuBLAS GEMM [m, k] · [k, n] in the layer's dtype
// (tf32 tensor cores for fp32 when allow_tf32), the median of `repeats` timed calls.
double dense_gemm_rate(const Config& config, std::int64_t m, std::int64_t n, std::int64_t k,
                       int repeats, int device);

}  // namespace flashmoe::bench::cuda
