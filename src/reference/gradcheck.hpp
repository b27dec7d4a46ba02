// Finite-difference check of the reference's backward pass (SPEC §3) in fp64: every element of
// x (every rank), wg, w1, b1, w2 and b2 (every rank's experts) is perturbed in turn, and the
// central difference of the scalar loss
//     L = Σ_r ⟨dout_r, out_r⟩ + d_aux·Σ_r l_aux_r + d_z·Σ_r l_z_r
// is compared with the analytic gradient from reference::run. The routing of the unperturbed
// problem is replayed for every perturbed evaluation, so a perturbation can never flip a top-k
// tie or a capacity drop (the loss is piecewise smooth only for fixed routing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flashmoe/config.hpp"

namespace flashmoe::reference {

struct GradcheckOptions {
  Config config;  // the layer; dtype is replaced by fp64 (and allow_tf32 by false)
  int world_size = 1;
  std::vector<std::int64_t> tokens_per_rank;  // one count per rank; empty: 4 on every rank
  std::uint64_t seed = 0;                     // make_random_problem's seed
  double d_aux = 0.0;                         // upstream gradient of the load-balance loss
  double d_z = 0.0;                           // upstream gradient of the z-loss
  // Central-difference step relative to max(1, |value|). The truncation error grows as step²
  // and the rounding error as 1e-16/step; near 1e-5 both stay far below the tolerance.
  double step = 1e-5;
  double tolerance = 1e-6;  // the largest accepted error of a tensor
  int worst_entries = 3;    // entries listed per tensor, largest |analytic − numeric| first
};

// One compared element.
struct GradcheckEntry {
  std::string tensor;                  // "x", "wg", "w1", "b1", "w2", "b2"
  int rank = 0;                        // the rank holding it (0 for the replicated wg)
  std::vector<std::int64_t> position;  // multi-index into that rank's tensor
  double analytic = 0.0;
  double numeric = 0.0;
};

// The comparison of one gradient tensor, gathered over every rank.
struct TensorGradcheck {
  std::string tensor;
  std::int64_t checked = 0;  // elements compared
  // relu only: elements whose finite-difference step would move some pre-activation across
  // the kink at 0, where a difference quotient means nothing. They are not compared.
  std::int64_t skipped = 0;
  double analytic_norm = 0.0;    // ‖a‖₂ over the compared elements
  double numeric_norm = 0.0;     // ‖n‖₂
  double difference_norm = 0.0;  // ‖a − n‖₂
  // ‖a − n‖₂ / max(‖n‖₂, 1): relative where the gradient has norm ≥ 1, absolute below it, so a
  // gradient that is legitimately 0 (k = 1 with normalised weights: no gate gradient) is judged
  // by the size of its error rather than by rounding noise divided by nothing.
  double error = 0.0;
  bool passed = false;
  std::vector<GradcheckEntry> worst;  // largest |a − n| first
};

struct GradcheckReport {
  GradcheckOptions options;
  std::vector<TensorGradcheck> tensors;  // x, wg, w1, [b1,] w2, [b2]
  double max_error = 0.0;
  std::int64_t checked = 0;
  std::int64_t skipped = 0;
  std::int64_t evaluations = 0;  // forward passes run for the differences
  double seconds = 0.0;
  bool passed = false;  // every tensor within tolerance
};

// Runs the check; throws flashmoe::Error for an invalid configuration or token counts.
GradcheckReport gradcheck(const GradcheckOptions& options);

// A multi-line, human-readable table of the report (per tensor: counts, norms, error, verdict;
// then the worst entries), ending with a PASS/FAIL line.
std::string format_report(const GradcheckReport& report);

}  // namespace flashmoe::reference
