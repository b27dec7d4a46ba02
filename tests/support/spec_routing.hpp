// SPEC §2.1–2.5 and §2.8 restated for the tests, in fp64, from the SPEC's text alone: gate
// logits, softmax, top-k with its tie rule, routing weights, capacity, the position-order slot
// assignment and the two losses. Nothing here calls src/math (softmax_row, topk_row,
// expert_capacity, assign_slots), which the reference and the engine share, so a mistake made
// there once cannot pass by being made twice. tests/python/spec_torch.py is its twin in torch.
// Written for obviousness (a stable sort for top-k, a counter per expert for the slots), not
// speed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "flashmoe/problem.hpp"

namespace flashmoe::test::spec {

// §2.4: C_r = ceil(capacity_factor · S_r · k / E) clamped to [1, S_r]; 0 for S_r = 0; S_r when
// dropless. The product is formed left to right in double, as spec_torch.py does.
inline std::int64_t capacity(std::int64_t tokens, std::int64_t top_k, std::int64_t experts,
                             double capacity_factor, bool drop_tokens) {
  if (tokens == 0) return 0;
  if (!drop_tokens) return tokens;
  const double exact = capacity_factor * static_cast<double>(tokens) * static_cast<double>(top_k) /
                       static_cast<double>(experts);
  return std::clamp(static_cast<std::int64_t>(std::ceil(exact)), std::int64_t{1}, tokens);
}

// §2.5 on one rank: slot (t, j) is kept when fewer than `capacity` earlier tokens chose the same
// expert (a token chooses an expert at most once, so "earlier" is by token index).
struct Slots {
  std::vector<std::uint8_t> kept;      // [S, k]
  std::vector<std::int64_t> routed;    // [E] slots per expert before capacity
  std::vector<std::int64_t> accepted;  // [E] kept slots per expert
};

inline Slots assign_by_token_order(const std::vector<std::int32_t>& topk_index, std::int64_t k,
                                   std::int64_t experts, std::int64_t capacity) {
  Slots slots;
  slots.kept.assign(topk_index.size(), 0);
  slots.routed.assign(static_cast<std::size_t>(experts), 0);
  slots.accepted.assign(static_cast<std::size_t>(experts), 0);
  const auto tokens = static_cast<std::int64_t>(topk_index.size()) / k;
  for (std::int64_t t = 0; t < tokens; ++t)
    for (std::int64_t j = 0; j < k; ++j) {
      const auto e = static_cast<std::size_t>(topk_index[static_cast<std::size_t>(t * k + j)]);
      if (slots.routed[e] < capacity) {
        slots.kept[static_cast<std::size_t>(t * k + j)] = 1;
        ++slots.accepted[e];
      }
      ++slots.routed[e];
    }
  return slots;
}

// §2.1–2.3 on one rank, in fp64 on the problem's (dtype-rounded) values.
struct Gate {
  std::int64_t tokens = 0, experts = 0, top_k = 0;
  std::vector<double> logits;            // [S, E]
  std::vector<double> probs;             // [S, E]
  std::vector<double> lse;               // [S]
  std::vector<std::int32_t> topk_index;  // [S, k] the SPEC's own choice
  std::vector<double> tie_margin;        // [S] see below
};

// The token's distance from a different top-k: the smallest logit gap between neighbours of its
// ranking from place 0 to place k (to place k − 1 when k = E) — the places whose order the
// top-k list fixes. 0 for an exact tie (decided by the lower index, so still checkable); a
// small positive margin is a near-tie that rounding in a lower precision may decide otherwise
// (SPEC §4). +inf when E = 1.
inline double tie_margin(const double* logits, const std::vector<std::int32_t>& ranking,
                         std::int64_t k) {
  const auto E = static_cast<std::int64_t>(ranking.size());
  double margin = std::numeric_limits<double>::infinity();
  for (std::int64_t place = 0; place < std::min(k, E - 1); ++place)
    margin = std::min(margin, logits[ranking[static_cast<std::size_t>(place)]] -
                                  logits[ranking[static_cast<std::size_t>(place + 1)]]);
  return margin;
}

inline Gate gate(const Problem& problem, int rank) {
  const Config& c = problem.config;
  const HostTensor& x = problem.ranks.at(static_cast<std::size_t>(rank)).x;  // [S, H]
  Gate g;
  g.tokens = x.dim(0);
  g.experts = c.experts;
  g.top_k = c.top_k;
  const std::int64_t S = g.tokens, E = c.experts, H = c.hidden, k = c.top_k;
  g.logits.assign(static_cast<std::size_t>(S * E), 0.0);
  g.probs.assign(static_cast<std::size_t>(S * E), 0.0);
  g.lse.assign(static_cast<std::size_t>(S), 0.0);
  g.topk_index.assign(static_cast<std::size_t>(S * k), 0);
  g.tie_margin.assign(static_cast<std::size_t>(S), 0.0);
  for (std::int64_t t = 0; t < S; ++t) {
    double* logits = &g.logits[static_cast<std::size_t>(t * E)];
    double* probs = &g.probs[static_cast<std::size_t>(t * E)];
    for (std::int64_t e = 0; e < E; ++e)
      for (std::int64_t h = 0; h < H; ++h)
        logits[e] += x.get(t * H + h) * problem.wg.get(e * H + h);
    const double largest = *std::max_element(logits, logits + E);
    double sum = 0.0;
    for (std::int64_t e = 0; e < E; ++e) sum += std::exp(logits[e] - largest);
    for (std::int64_t e = 0; e < E; ++e) probs[e] = std::exp(logits[e] - largest) / sum;
    g.lse[static_cast<std::size_t>(t)] = largest + std::log(sum);
    // §2.2: descending p; a stable sort keeps equal values in index order (lower index first).
    std::vector<std::int32_t> ranking(static_cast<std::size_t>(E));
    std::iota(ranking.begin(), ranking.end(), 0);
    std::stable_sort(ranking.begin(), ranking.end(),
                     [probs](std::int32_t a, std::int32_t b) { return probs[a] > probs[b]; });
    std::copy_n(ranking.begin(), k, g.topk_index.begin() + t * k);
    g.tie_margin[static_cast<std::size_t>(t)] = tie_margin(logits, ranking, k);
  }
  return g;
}

// p[t, e] of the gate.
inline double probability(const Gate& g, std::int64_t t, std::int32_t e) {
  return g.probs[static_cast<std::size_t>(t * g.experts + e)];
}

// §2.3: the weights of the slots `topk_index` chose (the SPEC's or a backend's).
inline std::vector<double> weights(const Gate& g, const std::vector<std::int32_t>& topk_index,
                                   bool normalize) {
  const std::int64_t k = g.top_k;
  std::vector<double> w(topk_index.size());
  for (std::int64_t t = 0; t < g.tokens; ++t) {
    const std::int32_t* chosen = &topk_index[static_cast<std::size_t>(t * k)];  // [k]
    double sum = 0.0;  // Σ_{i<k} p[t, e_i]
    for (std::int64_t j = 0; j < k; ++j) sum += probability(g, t, chosen[j]);
    for (std::int64_t j = 0; j < k; ++j) {
      const double p = probability(g, t, chosen[j]);
      w[static_cast<std::size_t>(t * k + j)] = normalize ? p / sum : p;
    }
  }
  return w;
}

// §2.8: l_aux = E · Σ_e f_e · P̄_e over the slots `topk_index` chose (before capacity), and
// l_z = mean of lse²; both 0 without tokens.
struct Losses {
  double aux = 0.0, z = 0.0;
};

inline Losses losses(const Gate& g, const std::vector<std::int32_t>& topk_index) {
  Losses l;
  const std::int64_t S = g.tokens, E = g.experts, k = g.top_k;
  if (S == 0) return l;
  for (std::int32_t e = 0; e < E; ++e) {
    // f_e, the share of the slots that chose e, times P̄_e, its mean probability.
    const auto chosen = std::count(topk_index.begin(), topk_index.end(), e);
    const double fraction = static_cast<double>(chosen) / static_cast<double>(S * k);
    double mean = 0.0;
    for (std::int64_t t = 0; t < S; ++t) mean += probability(g, t, e);
    l.aux += fraction * mean / static_cast<double>(S);
  }
  l.aux *= static_cast<double>(E);
  for (const double v : g.lse) l.z += v * v;
  l.z /= static_cast<double>(S);
  return l;
}

}  // namespace flashmoe::test::spec
