// `flashmoe run --check`: compares a backend's results with the fp64 reference run on the same
// inputs and the backend's own routing (SPEC §4: routing decided in low precision may differ
// at near-ties, so the reference replays it), tensor by tensor and rank by rank.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "flashmoe/problem.hpp"

namespace flashmoe::cli {

// ‖a − b‖₂ / ‖b‖₂, accumulated in double; ‖a − b‖₂ when ‖b‖₂ = 0 (e.g. every slot dropped),
// so that an all-zero reference still demands an all-zero result.
double relative_l2(const HostTensor& a, const HostTensor& b);

// SPEC §4 bound for the layer's dtype: fp64 1e-12, fp32 1e-5, fp32 + allow_tf32 5e-3,
// bf16/fp16 2e-2.
double tolerance_for(const Config& config);

// The backend's routing, in the form the reference replays.
RoutingOverride routing_of(const Results& results);

struct CheckRow {
  std::string tensor;               // out, dx, dwg, dw1, db1, dw2, db2, l_aux, l_z
  std::vector<double> rank_errors;  // one per rank
  double pooled_error = 0.0;        // over every rank's elements together
  double worst() const;             // max of the above (NaN counts as worst)
  bool passed(double tolerance) const;
};

struct CheckReport {
  double tolerance = 0.0;
  std::vector<CheckRow> rows;
  bool passed() const;
};

// Compares `results` with an fp64 reference run; rows for the gradients only with backward,
// for b1/b2 only with bias, for the losses only when they are enabled.
CheckReport check_against_reference(const Problem& problem, const Results& results);

// The report as a table (ranks as columns up to 4 ranks, then worst rank and pooled only).
void print_check(std::ostream& out, const CheckReport& report, const Config& config);

}  // namespace flashmoe::cli
