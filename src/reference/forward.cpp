// SPEC §2 on one rank: gate → routing → expert FFN of every kept slot → combine → losses.
#include "reference/model.hpp"

namespace flashmoe::reference::detail {

template <typename T>
RankForward<T> forward_rank(const Model<T>& model, int rank, const RoutingOverride* given) {
  const Config& c = model.config;
  const std::int64_t H = c.hidden, k = c.top_k;
  const RankTensors<T>& in = model.ranks[static_cast<std::size_t>(rank)];
  const std::int64_t S = in.tokens;

  RankForward<T> fwd;
  fwd.gate = compute_gate(model, rank);
  fwd.routing = given != nullptr ? replay_routing(model, rank, fwd.gate, *given)
                                 : decide_routing(model, rank, fwd.gate);

  // §2.6: every kept slot runs its expert on the owner rank's weights.
  fwd.slots.resize(static_cast<std::size_t>(S * k));  // [S, k]
  for (std::int64_t t = 0; t < S; ++t)
    for (std::int64_t j = 0; j < k; ++j)
      if (fwd.routing.kept[t * k + j])
        fwd.slots[t * k + j] = expert_forward(
            c, expert_weights(model, fwd.routing.topk_index[t * k + j]), &in.x[t * H]);

  // §2.7: out[t] = Σ_j kept · w[t, j] · y, in increasing j; a dropped slot adds nothing.
  fwd.out.assign(static_cast<std::size_t>(S * H), T(0));  // [S, H]
  for (std::int64_t t = 0; t < S; ++t) {
    for (std::int64_t j = 0; j < k; ++j) {
      if (!fwd.routing.kept[t * k + j]) continue;
      const T weight = fwd.routing.topk_weight[t * k + j];
      const std::vector<T>& y = fwd.slots[t * k + j].y;  // [H]
      for (std::int64_t h = 0; h < H; ++h) fwd.out[t * H + h] += weight * y[h];
    }
  }

  // §2.8.
  fwd.aux_loss = load_balance_loss(c, fwd.gate, fwd.routing, S);
  fwd.z_loss = router_z_loss(fwd.gate, S);
  return fwd;
}

template RankForward<float> forward_rank<float>(const Model<float>&, int, const RoutingOverride*);
template RankForward<double> forward_rank<double>(const Model<double>&, int,
                                                  const RoutingOverride*);

}  // namespace flashmoe::reference::detail
