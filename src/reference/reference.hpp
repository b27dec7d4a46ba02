// The reference: a naive, literal implementation of SPEC §2–3 over every rank at once. It is the
// oracle every backend is tested against, so it favours obviousness over speed.
#pragma once

#include "flashmoe/problem.hpp"

namespace flashmoe::reference {

// Arithmetic precision of the reference: every input is widened (fp64) or rounded (fp32) to it,
// and every result tensor is returned in it.
enum class Precision { fp64, fp32 };

// Forward (and backward when problem.backward) on every rank. Both auxiliary losses are always
// computed and reported (config.aux_loss / z_loss only say whether a caller wants them), and
// problem.d_aux / d_z are applied as given, so the gradients are those of
// Σ_r ⟨dout_r, out_r⟩ + d_aux·Σ_r l_aux_r + d_z·Σ_r l_z_r. With `routing` non-null the top-k
// experts and the kept flags are taken from it instead of being decided here; weights are still
// computed from this reference's own softmax.
Results run(const Problem& problem, Precision precision, const RoutingOverride* routing = nullptr);

}  // namespace flashmoe::reference
