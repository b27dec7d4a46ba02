// SPEC §2.8 auxiliary losses of one rank and their gradients (§3). A rank without tokens
// reports 0 for both and contributes no gradient.
#include "reference/model.hpp"

namespace flashmoe::reference::detail {

// l_aux = E · Σ_e f_e · P̄_e;  f_e = routed_e / (S·k) counts slots before capacity,
// P̄_e = (1/S) Σ_t p[t, e].
template <typename T>
T load_balance_loss(const Config& c, const GateOutput<T>& gate, const RoutingDecision<T>& routing,
                    std::int64_t tokens) {
  if (tokens == 0) return T(0);
  const std::int64_t E = c.experts, k = c.top_k;
  T loss = T(0);
  for (std::int64_t e = 0; e < E; ++e) {
    const T fraction = static_cast<T>(routing.routed[e]) / static_cast<T>(tokens * k);
    T mean_prob = T(0);
    for (std::int64_t t = 0; t < tokens; ++t) mean_prob += gate.probs[t * E + e];
    mean_prob /= static_cast<T>(tokens);
    loss += fraction * mean_prob;
  }
  return static_cast<T>(E) * loss;
}

// l_z = (1/S) Σ_t lse_t².
template <typename T>
T router_z_loss(const GateOutput<T>& gate, std::int64_t tokens) {
  if (tokens == 0) return T(0);
  T sum = T(0);
  for (std::int64_t t = 0; t < tokens; ++t) sum += gate.lse[t] * gate.lse[t];
  return sum / static_cast<T>(tokens);
}

// ∂(d_aux·l_aux)/∂p[t, e] = d_aux · E · f_e / S; f_e is a count, so it has no gradient.
template <typename T>
std::vector<T> load_balance_dprobs(const Config& c, const RoutingDecision<T>& routing,
                                   std::int64_t tokens, T d_aux) {
  const std::int64_t E = c.experts, k = c.top_k;
  std::vector<T> dprobs(static_cast<std::size_t>(E), T(0));  // [E]
  if (tokens == 0) return dprobs;
  for (std::int64_t e = 0; e < E; ++e) {
    const T fraction = static_cast<T>(routing.routed[e]) / static_cast<T>(tokens * k);
    dprobs[e] = d_aux * static_cast<T>(E) * fraction / static_cast<T>(tokens);
  }
  return dprobs;
}

// ∂(d_z·l_z)/∂logits[t, e] = d_z · (2/S) · lse_t · p[t, e].
template <typename T>
void add_z_loss_dlogits(const GateOutput<T>& gate, std::int64_t token, std::int64_t tokens,
                        std::int64_t experts, T d_z, T* dlogits_row) {
  const T scale = d_z * T(2) / static_cast<T>(tokens) * gate.lse[token];
  for (std::int64_t e = 0; e < experts; ++e)
    dlogits_row[e] += scale * gate.probs[token * experts + e];
}

template float load_balance_loss<float>(const Config&, const GateOutput<float>&,
                                        const RoutingDecision<float>&, std::int64_t);
template double load_balance_loss<double>(const Config&, const GateOutput<double>&,
                                          const RoutingDecision<double>&, std::int64_t);
template float router_z_loss<float>(const GateOutput<float>&, std::int64_t);
template double router_z_loss<double>(const GateOutput<double>&, std::int64_t);
template std::vector<float> load_balance_dprobs<float>(const Config&, const RoutingDecision<float>&,
                                                       std::int64_t, float);
template std::vector<double> load_balance_dprobs<double>(const Config&,
                                                         const RoutingDecision<double>&,
                                                         std::int64_t, double);
template void add_z_loss_dlogits<float>(const GateOutput<float>&, std::int64_t, std::int64_t,
                                        std::int64_t, float, float*);
template void add_z_loss_dlogits<double>(const GateOutput<double>&, std::int64_t, std::int64_t,
                                         std::int64_t, double, double*);

}  // namespace flashmoe::reference::detail
