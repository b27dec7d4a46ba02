// SPEC §2.2–2.5 on one rank: top-k experts, their weights, capacity and the deterministic slot
// assignment — or the replay of a routing decided elsewhere (SPEC §4).
#include <string>

#include "flashmoe/error.hpp"
#include "math/capacity.hpp"
#include "math/topk.hpp"
#include "reference/model.hpp"

namespace flashmoe::reference::detail {
namespace {

// §2.4–2.5: capacity of this rank and the position-order slot assignment; fills kept, routed
// and accepted of `routing` from its topk_index.
template <typename T>
void assign_capacity(const Config& c, std::int64_t tokens, RoutingDecision<T>& routing) {
  const std::int64_t E = c.experts, k = c.top_k;
  const std::int64_t capacity =
      math::expert_capacity(tokens, k, E, c.capacity_factor, c.drop_tokens);
  routing.kept.assign(static_cast<std::size_t>(tokens * k), 0);              // [S, k]
  std::vector<std::int32_t> position(static_cast<std::size_t>(tokens * k));  // [S, k] unused
  routing.routed.assign(static_cast<std::size_t>(E), 0);
  routing.accepted.assign(static_cast<std::size_t>(E), 0);
  math::assign_slots(routing.topk_index.data(), tokens, k, E, capacity, routing.kept.data(),
                     position.data(), routing.routed.data(), routing.accepted.data());
}

// Checks a replayed routing tensor's rank count, type and shape; messages name the rank and the
// tensor.
void expect_routing_tensor(const std::vector<HostTensor>& tensors, const char* name, int rank,
                           int world_size, ElementType type, std::int64_t tokens, std::int64_t k) {
  FLASHMOE_CHECK(tensors.size() == static_cast<std::size_t>(world_size), "routing override: ", name,
                 " has ", tensors.size(), " ranks, expected ", world_size);
  tensors[static_cast<std::size_t>(rank)].expect(
      std::string("routing override ") + name + " (rank " + std::to_string(rank) + ")", type,
      {tokens, k});
}

}  // namespace

template <typename T>
std::vector<T> routing_weights(const Config& c, const GateOutput<T>& gate,
                               const std::vector<std::int32_t>& topk_index, std::int64_t tokens) {
  const std::int64_t E = c.experts, k = c.top_k;
  std::vector<T> weights(static_cast<std::size_t>(tokens * k));  // [S, k]
  for (std::int64_t t = 0; t < tokens; ++t) {
    T chosen_sum = T(0);  // Σ_{i<k} p[t, e_i], in increasing i
    for (std::int64_t j = 0; j < k; ++j) chosen_sum += gate.probs[t * E + topk_index[t * k + j]];
    for (std::int64_t j = 0; j < k; ++j) {
      const T p = gate.probs[t * E + topk_index[t * k + j]];
      weights[t * k + j] = c.normalize_weights ? p / chosen_sum : p;
    }
  }
  return weights;
}

template <typename T>
RoutingDecision<T> decide_routing(const Model<T>& model, int rank, const GateOutput<T>& gate) {
  const Config& c = model.config;
  const std::int64_t E = c.experts, k = c.top_k;
  const std::int64_t S = model.ranks[static_cast<std::size_t>(rank)].tokens;
  RoutingDecision<T> routing;
  routing.topk_index.assign(static_cast<std::size_t>(S * k), 0);  // [S, k]
  // §2.2: ranking probabilities or logits gives the same order except where exp() rounds two
  // distinct logits to one probability; SPEC ranks p, so ties are judged on p.
  for (std::int64_t t = 0; t < S; ++t)
    math::topk_row(&gate.probs[t * E], E, static_cast<std::int32_t>(k), &routing.topk_index[t * k],
                   static_cast<T*>(nullptr));
  routing.topk_weight = routing_weights(c, gate, routing.topk_index, S);
  assign_capacity(c, S, routing);
  return routing;
}

template <typename T>
RoutingDecision<T> replay_routing(const Model<T>& model, int rank, const GateOutput<T>& gate,
                                  const RoutingOverride& given) {
  const Config& c = model.config;
  const std::int64_t E = c.experts, k = c.top_k;
  const std::int64_t S = model.ranks[static_cast<std::size_t>(rank)].tokens;
  expect_routing_tensor(given.topk_index, "topk_index", rank, model.world_size, ElementType::i32, S,
                        k);
  expect_routing_tensor(given.kept, "kept", rank, model.world_size, ElementType::u8, S, k);
  const auto index = given.topk_index[static_cast<std::size_t>(rank)].data<std::int32_t>();
  const auto kept = given.kept[static_cast<std::size_t>(rank)].data<std::uint8_t>();

  RoutingDecision<T> routing;
  routing.topk_index.assign(index.begin(), index.end());  // [S, k]
  routing.kept.assign(kept.begin(), kept.end());          // [S, k]
  routing.routed.assign(static_cast<std::size_t>(E), 0);
  routing.accepted.assign(static_cast<std::size_t>(E), 0);
  for (std::int64_t t = 0; t < S; ++t) {
    for (std::int64_t j = 0; j < k; ++j) {
      const std::int32_t e = routing.topk_index[t * k + j];
      const std::uint8_t keep = routing.kept[t * k + j];
      FLASHMOE_CHECK(e >= 0 && e < E, "routing override topk_index (rank ", rank, ") [", t, ", ", j,
                     "] = ", e, ": allowed are experts 0 ≤ e < ", E);
      FLASHMOE_CHECK(keep <= 1, "routing override kept (rank ", rank, ") [", t, ", ", j,
                     "] = ", int{keep}, ": allowed are 0 and 1");
      for (std::int64_t i = 0; i < j; ++i)
        FLASHMOE_CHECK(routing.topk_index[t * k + i] != e, "routing override topk_index (rank ",
                       rank, "): token ", t, " chooses expert ", e, " in slots ", i, " and ", j);
      ++routing.routed[e];
      if (keep) ++routing.accepted[e];
    }
  }
  routing.topk_weight = routing_weights(c, gate, routing.topk_index, S);
  return routing;
}

template std::vector<float> routing_weights<float>(const Config&, const GateOutput<float>&,
                                                   const std::vector<std::int32_t>&, std::int64_t);
template std::vector<double> routing_weights<double>(const Config&, const GateOutput<double>&,
                                                     const std::vector<std::int32_t>&,
                                                     std::int64_t);
template RoutingDecision<float> decide_routing<float>(const Model<float>&, int,
                                                      const GateOutput<float>&);
template RoutingDecision<double> decide_routing<double>(const Model<double>&, int,
                                                        const GateOutput<double>&);
template RoutingDecision<float> replay_routing<float>(const Model<float>&, int,
                                                      const GateOutput<float>&,
                                                      const RoutingOverride&);
template RoutingDecision<double> replay_routing<double>(const Model<double>&, int,
                                                        const GateOutput<double>&,
                                                        const RoutingOverride&);

}  // namespace flashmoe::reference::detail
