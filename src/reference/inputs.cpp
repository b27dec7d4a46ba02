// Widening of the problem's tensors (stored in any dtype) to the reference's arithmetic type,
// and the mapping of a global expert to its owner rank's weights.
#include "flashmoe/error.hpp"
#include "reference/model.hpp"

namespace flashmoe::reference::detail {
namespace {

// Every element of `tensor` converted to T (exact for f64 → double and 16-bit → either type;
// f64 → float rounds to nearest). An undefined tensor (bias off) becomes `zeros_if_empty` zeros.
template <typename T>
std::vector<T> widen(const HostTensor& tensor, std::int64_t zeros_if_empty = 0) {
  if (!tensor.defined()) return std::vector<T>(static_cast<std::size_t>(zeros_if_empty), T(0));
  std::vector<T> values(static_cast<std::size_t>(tensor.numel()));
  for (std::int64_t i = 0; i < tensor.numel(); ++i) values[i] = static_cast<T>(tensor.get(i));
  return values;
}

}  // namespace

template <typename T>
Model<T> widen_problem(const Problem& problem) {
  const Config& c = problem.config;
  Model<T> model;
  model.config = c;
  model.world_size = problem.world_size;
  model.local_experts = c.local_experts(problem.world_size);
  model.wg = widen<T>(problem.wg);  // [E, H]
  model.d_aux = static_cast<T>(problem.d_aux);
  model.d_z = static_cast<T>(problem.d_z);
  const std::int64_t L = model.local_experts;
  for (const RankInputs& in : problem.ranks) {
    RankTensors<T> rank;
    rank.tokens = in.x.dim(0);
    rank.x = widen<T>(in.x);                                             // [S, H]
    if (problem.backward) rank.dout = widen<T>(in.dout);                 // [S, H]
    rank.w1 = widen<T>(in.w1);                                           // [L, R, H]
    rank.w2 = widen<T>(in.w2);                                           // [L, H, P]
    rank.b1 = widen<T>(c.bias ? in.b1 : HostTensor(), L * c.w1_rows());  // [L, R]
    rank.b2 = widen<T>(c.bias ? in.b2 : HostTensor(), L * c.hidden);     // [L, H]
    model.ranks.push_back(std::move(rank));
  }
  return model;
}

template <typename T>
ExpertWeights<T> expert_weights(const Model<T>& model, std::int64_t expert) {
  const Config& c = model.config;
  const std::int64_t owner = expert / model.local_experts;
  const std::int64_t local = expert % model.local_experts;
  const RankTensors<T>& rank = model.ranks[static_cast<std::size_t>(owner)];
  const std::int64_t R = c.w1_rows(), H = c.hidden, P = c.ffn;
  return {rank.w1.data() + local * R * H, rank.b1.data() + local * R,
          rank.w2.data() + local * H * P, rank.b2.data() + local * H};
}

template <typename T>
ExpertGradients<T> expert_gradients(const Model<T>& model, std::vector<RankGradients<T>>& grads,
                                    std::int64_t expert) {
  const Config& c = model.config;
  const std::int64_t owner = expert / model.local_experts;
  const std::int64_t local = expert % model.local_experts;
  RankGradients<T>& g = grads[static_cast<std::size_t>(owner)];
  const std::int64_t R = c.w1_rows(), H = c.hidden, P = c.ffn;
  return {g.dw1.data() + local * R * H, g.db1.data() + local * R, g.dw2.data() + local * H * P,
          g.db2.data() + local * H};
}

template Model<float> widen_problem<float>(const Problem&);
template Model<double> widen_problem<double>(const Problem&);
template ExpertWeights<float> expert_weights<float>(const Model<float>&, std::int64_t);
template ExpertWeights<double> expert_weights<double>(const Model<double>&, std::int64_t);
template ExpertGradients<float> expert_gradients<float>(const Model<float>&,
                                                        std::vector<RankGradients<float>>&,
                                                        std::int64_t);
template ExpertGradients<double> expert_gradients<double>(const Model<double>&,
                                                          std::vector<RankGradients<double>>&,
                                                          std::int64_t);

}  // namespace flashmoe::reference::detail
