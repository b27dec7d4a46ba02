// SPEC §3 for one rank's tokens: the expert path of every kept slot, then the gate path
// (routing weights → probabilities → logits, plus the auxiliary-loss terms) per token.
#include "reference/model.hpp"

namespace flashmoe::reference::detail {
namespace {

// ⟨a, b⟩ over n elements, in increasing index.
template <typename T>
T dot(const T* a, const T* b, std::int64_t n) {
  T sum = T(0);
  for (std::int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// dp[t, e_j] from dw[t, :]: through the normalisation w = p / Σ_i p[e_i] when it is on,
// directly otherwise. Probabilities off the top-k get 0 here.
template <typename T>
void add_weight_dprobs(const Config& c, const GateOutput<T>& gate,
                       const RoutingDecision<T>& routing, std::int64_t t,
                       const std::vector<T>& dweight, std::vector<T>& dprobs) {
  const std::int64_t E = c.experts, k = c.top_k;
  const std::int32_t* experts = &routing.topk_index[t * k];  // [k]
  const T* weights = &routing.topk_weight[t * k];            // [k]
  if (!c.normalize_weights) {
    for (std::int64_t j = 0; j < k; ++j) dprobs[experts[j]] += dweight[j];
    return;
  }
  T chosen_sum = T(0);  // s = Σ_i p[t, e_i]
  for (std::int64_t i = 0; i < k; ++i) chosen_sum += gate.probs[t * E + experts[i]];
  const T weighted = dot(dweight.data(), weights, k);  // Σ_i dw[t, i]·w[t, i]
  for (std::int64_t j = 0; j < k; ++j) dprobs[experts[j]] += (dweight[j] - weighted) / chosen_sum;
}

}  // namespace

template <typename T>
std::vector<RankGradients<T>> zero_gradients(const Model<T>& model) {
  const Config& c = model.config;
  const std::int64_t E = c.experts, H = c.hidden, P = c.ffn, R = c.w1_rows();
  const std::int64_t L = model.local_experts;
  std::vector<RankGradients<T>> grads(model.ranks.size());
  for (std::size_t r = 0; r < grads.size(); ++r) {
    const auto zeros = [](std::int64_t n) { return std::vector<T>(static_cast<std::size_t>(n)); };
    grads[r].dx = zeros(model.ranks[r].tokens * H);  // [S_r, H]
    grads[r].dwg = zeros(E * H);                     // [E, H]
    grads[r].dw1 = zeros(L * R * H);                 // [L, R, H]
    grads[r].db1 = zeros(L * R);                     // [L, R]
    grads[r].dw2 = zeros(L * H * P);                 // [L, H, P]
    grads[r].db2 = zeros(L * H);                     // [L, H]
  }
  return grads;
}

template <typename T>
void backward_rank(const Model<T>& model, int rank, const RankForward<T>& fwd,
                   std::vector<RankGradients<T>>& grads) {
  const Config& c = model.config;
  const std::int64_t E = c.experts, H = c.hidden, k = c.top_k;
  const RankTensors<T>& in = model.ranks[static_cast<std::size_t>(rank)];
  const std::int64_t S = in.tokens;
  RankGradients<T>& own = grads[static_cast<std::size_t>(rank)];
  const RoutingDecision<T>& routing = fwd.routing;

  // The load-balance term of dp is the same for every token of this rank.
  const std::vector<T> aux_dprobs = load_balance_dprobs(c, routing, S, model.d_aux);  // [E]

  for (std::int64_t t = 0; t < S; ++t) {
    const T* x_row = &in.x[t * H];        // [H]
    const T* dout_row = &in.dout[t * H];  // [H]
    T* dx_row = &own.dx[t * H];           // [H]

    // Expert path of each kept slot: dy = w·dout; dw[t, j] = ⟨dout, y⟩.
    std::vector<T> dweight(static_cast<std::size_t>(k), T(0));  // [k], 0 for dropped slots
    std::vector<T> dy(static_cast<std::size_t>(H));             // [H]
    for (std::int64_t j = 0; j < k; ++j) {
      if (!routing.kept[t * k + j]) continue;
      const std::int64_t expert = routing.topk_index[t * k + j];
      const SlotActivations<T>& slot = fwd.slots[t * k + j];
      dweight[j] = dot(dout_row, slot.y.data(), H);
      for (std::int64_t h = 0; h < H; ++h) dy[h] = routing.topk_weight[t * k + j] * dout_row[h];
      expert_backward(c, expert_weights(model, expert), slot, x_row, dy.data(),
                      expert_gradients(model, grads, expert), dx_row);
    }

    // Gate path: dp from the weights and the load-balance loss, then through the softmax.
    std::vector<T> dprobs(aux_dprobs);  // [E]
    add_weight_dprobs(c, fwd.gate, routing, t, dweight, dprobs);
    const T* probs = &fwd.gate.probs[t * E];                // [E]
    const T expected_dprob = dot(probs, dprobs.data(), E);  // Σ_m p[t, m]·dp[t, m]
    std::vector<T> dlogits(static_cast<std::size_t>(E));    // [E]
    for (std::int64_t e = 0; e < E; ++e) dlogits[e] = probs[e] * (dprobs[e] - expected_dprob);
    add_z_loss_dlogits(fwd.gate, t, S, E, model.d_z, dlogits.data());

    // logits = x·wgᵀ:  dwg += dlogitsᵀ·x,  dx += dlogits·wg.
    for (std::int64_t e = 0; e < E; ++e) {
      for (std::int64_t h = 0; h < H; ++h) {
        own.dwg[e * H + h] += dlogits[e] * x_row[h];
        dx_row[h] += dlogits[e] * model.wg[e * H + h];
      }
    }
  }
}

template std::vector<RankGradients<float>> zero_gradients<float>(const Model<float>&);
template std::vector<RankGradients<double>> zero_gradients<double>(const Model<double>&);
template void backward_rank<float>(const Model<float>&, int, const RankForward<float>&,
                                   std::vector<RankGradients<float>>&);
template void backward_rank<double>(const Model<double>&, int, const RankForward<double>&,
                                    std::vector<RankGradients<double>>&);

}  // namespace flashmoe::reference::detail
