// Checks a backend's routing record against SPEC §2.1–2.5 as tests/support/spec_routing.hpp
// restates it (independently of src/math), rank by rank:
//   - kept, routed and accepted equal the SPEC slot assignment of the backend's own top-k and
//     the SPEC capacity, exactly (a pure function of the top-k: no tolerance);
//   - the top-k equals the SPEC's own choice on every token whose ranking is not a near-tie:
//     tokens with a logit gap below the rounding bound of the backend's precision are left out
//     and counted (SPEC §4: a lower precision may decide a near-tie otherwise); exact ties
//     (gap 0) are kept in, since the lower-index rule decides them in every precision;
//   - the routing weights and l_aux of the backend's top-k, and l_z, within the dtype's
//     tolerance of the fp64 values.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "flashmoe/problem.hpp"
#include "support/results_compare.hpp"
#include "support/spec_routing.hpp"

namespace flashmoe::test {

struct RoutingCheckCounts {
  std::int64_t tokens = 0;      // over every rank
  std::int64_t near_ties = 0;   // tokens whose top-k was not compared
  std::int64_t exact_ties = 0;  // tokens with an exact tie among their ranked places
  std::int64_t dropped = 0;     // slots the SPEC assignment drops
};

// Unit roundoff of the arithmetic a backend's gate runs in: fp64 for fp64 layers, fp32 for the
// others (bf16 values are widened to fp32 exactly; SPEC §4).
inline double gate_unit_roundoff(DType dtype) {
  return dtype == DType::fp64 ? 0x1p-53 : 0x1p-24;
}

// How far rounding in that arithmetic can move token t's logit gaps, as a logit distance: a
// dot product of H terms is off by at most about H·u·Σ_h |x_h·wg_eh| (the standard bound), two
// logits twice that; softmax's exp, sum and division add a few u·E to the ratio of two
// probabilities. Four times the sum, so that only genuine near-ties fall inside.
inline double near_tie_bound(const Problem& problem, int rank, std::int64_t t, double u) {
  const Config& c = problem.config;
  const HostTensor& x = problem.ranks.at(static_cast<std::size_t>(rank)).x;
  double largest_sum = 0.0;
  for (std::int64_t e = 0; e < c.experts; ++e) {
    double sum = 0.0;
    for (std::int64_t h = 0; h < c.hidden; ++h)
      sum += std::abs(x.get(t * c.hidden + h) * problem.wg.get(e * c.hidden + h));
    largest_sum = std::max(largest_sum, sum);
  }
  return 4.0 * 2.0 * u *
         (static_cast<double>(c.hidden) * largest_sum + static_cast<double>(c.experts) + 4.0);
}

inline std::vector<std::int32_t> topk_of(const Routing& routing) {
  const auto index = routing.topk_index.to(ElementType::i32);
  const auto values = index.data<std::int32_t>();
  return {values.begin(), values.end()};
}

// The checks above for every rank of `results`; returns what it counted, so that callers can
// say how many tokens were left out.
inline RoutingCheckCounts expect_routing_follows_spec(const Problem& problem,
                                                      const Results& results,
                                                      const std::string& what) {
  const Config& c = problem.config;
  const std::int64_t E = c.experts, k = c.top_k;
  const double tol = spec_tolerance(c.dtype);
  const double u = gate_unit_roundoff(c.dtype);
  RoutingCheckCounts counts;
  for (int r = 0; r < problem.world_size; ++r) {
    const std::string at = what + " rank " + std::to_string(r) + ": ";
    const Routing& got = results.ranks.at(static_cast<std::size_t>(r)).routing;
    const spec::Gate gate = spec::gate(problem, r);
    const std::int64_t S = gate.tokens;
    const std::vector<std::int32_t> topk = topk_of(got);
    if (static_cast<std::int64_t>(topk.size()) != S * k) {
      ADD_FAILURE() << at << "topk_index holds " << topk.size() << " slots, expected " << S * k;
      continue;
    }

    const spec::Slots slots = spec::assign_by_token_order(
        topk, k, E, spec::capacity(S, k, E, c.capacity_factor, c.drop_tokens));
    const HostTensor kept = got.kept.to(ElementType::u8);
    for (std::int64_t i = 0; i < S * k; ++i) {
      EXPECT_EQ(kept.data<std::uint8_t>()[static_cast<std::size_t>(i)],
                slots.kept[static_cast<std::size_t>(i)])
          << at << "kept[token " << i / k << ", slot " << i % k << "] of expert "
          << topk[static_cast<std::size_t>(i)] << " differs from the SPEC slot assignment";
      counts.dropped += slots.kept[static_cast<std::size_t>(i)] == 0 ? 1 : 0;
    }
    EXPECT_EQ(got.routed, slots.routed) << at << "tokens per expert before capacity";
    EXPECT_EQ(got.accepted, slots.accepted) << at << "tokens per expert after capacity";

    for (std::int64_t t = 0; t < S; ++t) {
      ++counts.tokens;
      const double margin = gate.tie_margin[static_cast<std::size_t>(t)];
      if (margin == 0.0) ++counts.exact_ties;
      if (margin > 0.0 && margin < near_tie_bound(problem, r, t, u)) {
        ++counts.near_ties;
        continue;
      }
      for (std::int64_t j = 0; j < k; ++j)
        EXPECT_EQ(topk[static_cast<std::size_t>(t * k + j)],
                  gate.topk_index[static_cast<std::size_t>(t * k + j)])
            << at << "top-k of token " << t << ", slot " << j << " (logit margin " << margin << ")";
    }

    const std::vector<double> weights = spec::weights(gate, topk, c.normalize_weights);
    HostTensor expected_weights(ElementType::f64, {S, k});
    for (std::int64_t i = 0; i < S * k; ++i)
      expected_weights.set(i, weights[static_cast<std::size_t>(i)]);
    EXPECT_LE(relative_l2(got.topk_weight, expected_weights), tol) << at << "routing weights";
    const spec::Losses losses = spec::losses(gate, topk);
    const RankOutputs& outputs = results.ranks[static_cast<std::size_t>(r)];
    if (c.aux_loss) {
      EXPECT_NEAR(outputs.aux_loss, losses.aux, tol * (1.0 + std::abs(losses.aux)))
          << at << "l_aux";
    }
    if (c.z_loss) {
      EXPECT_NEAR(outputs.z_loss, losses.z, tol * (1.0 + std::abs(losses.z))) << at << "l_z";
    }
  }
  // A comparison that leaves out more than a few tokens checks little: near-ties are rare in
  // random problems (a gap below ~1e-4 in fp32), so many of them mean the bound is wrong.
  EXPECT_LE(counts.near_ties * 20, counts.tokens)
      << what << ": " << counts.near_ties << " of " << counts.tokens
      << " tokens are near-ties; the top-k comparison would check too little";
  return counts;
}

}  // namespace flashmoe::test
