// Floating-point operations the benchmark credits to one call, counted from the routing that
// call actually used (kept slots only; a dropped slot costs nothing). A multiply-add is 2 FLOPs.
//   gate forward    Σ_r 2·S_r·H·E                         (logits = x·wgᵀ)
//   expert forward  K·2·H·(R + P)                         (GEMM1 [H→R] and GEMM2 [P→H] per kept
//   row) backward        2 × forward: gate 2·(2·S_r·H·E) (dwg, dx) and experts K·4·H·(R + P)
//                   (dh, dw2, dx, dw1)
// with K = Σ_r Σ_e accepted_r[e] kept slots, R = w1_rows (P, or 2P when gated). Softmax, top-k,
// activations, copies and the combine are not counted: they are O(S·H), not O(S·H·P).
#pragma once

#include <cstdint>

#include "flashmoe/problem.hpp"

namespace flashmoe::bench {

struct FlopCount {
  std::int64_t kept_slots = 0;  // K
  double gate_forward = 0.0;
  double expert_forward = 0.0;
  double forward() const { return gate_forward + expert_forward; }
  double backward() const { return 2.0 * forward(); }
  double forward_backward() const { return forward() + backward(); }
};

// For `total_tokens` tokens over all ranks of which `kept_slots` (token, slot) pairs were kept.
FlopCount count_flops(const Config& config, std::int64_t total_tokens, std::int64_t kept_slots);

// The kept slots recorded in the routing of every rank entry of `results` (accepted counts).
std::int64_t kept_slots(const Results& results);

}  // namespace flashmoe::bench
