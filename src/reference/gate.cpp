// SPEC §2.1: gate logits and softmax probabilities of one rank's tokens.
#include "math/softmax.hpp"
#include "reference/model.hpp"

namespace flashmoe::reference::detail {

template <typename T>
GateOutput<T> compute_gate(const Model<T>& model, int rank) {
  const std::int64_t E = model.config.experts, H = model.config.hidden;
  const RankTensors<T>& in = model.ranks[static_cast<std::size_t>(rank)];
  const std::int64_t S = in.tokens;
  GateOutput<T> gate;
  gate.logits.assign(static_cast<std::size_t>(S * E), T(0));  // [S, E]
  gate.probs.assign(static_cast<std::size_t>(S * E), T(0));   // [S, E]
  gate.lse.assign(static_cast<std::size_t>(S), T(0));         // [S]
  for (std::int64_t t = 0; t < S; ++t) {
    for (std::int64_t e = 0; e < E; ++e) {
      T sum = T(0);  // accumulated in T, in increasing h
      for (std::int64_t h = 0; h < H; ++h) sum += in.x[t * H + h] * model.wg[e * H + h];
      gate.logits[t * E + e] = sum;
    }
    gate.lse[t] = math::softmax_row(&gate.logits[t * E], &gate.probs[t * E], E);
  }
  return gate;
}

template GateOutput<float> compute_gate<float>(const Model<float>&, int);
template GateOutput<double> compute_gate<double>(const Model<double>&, int);

}  // namespace flashmoe::reference::detail
