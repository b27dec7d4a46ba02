// reference::run: validates the problem, widens it to the chosen precision, runs the forward
// pass of every rank (and the backward pass when asked) and packs the results as HostTensors of
// that precision.
#include "reference/reference.hpp"

#include <chrono>

#include "reference/model.hpp"

namespace flashmoe::reference {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

template <typename V>
HostTensor to_tensor(const std::vector<V>& values, Shape shape) {
  HostTensor tensor = HostTensor::zeros<V>(std::move(shape));
  std::span<V> data = tensor.data<V>();
  for (std::size_t i = 0; i < values.size(); ++i) data[i] = values[i];
  return tensor;
}

template <typename T>
Routing to_routing(const detail::RoutingDecision<T>& routing, std::int64_t tokens, std::int64_t k) {
  Routing record;
  record.topk_index = to_tensor(routing.topk_index, {tokens, k});
  record.topk_weight = to_tensor(routing.topk_weight, {tokens, k});
  record.kept = to_tensor(routing.kept, {tokens, k});
  record.routed = routing.routed;
  record.accepted = routing.accepted;
  return record;
}

template <typename T>
Results run_in(const Problem& problem, const RoutingOverride* routing) {
  const Config& c = problem.config;
  const std::int64_t H = c.hidden, P = c.ffn, E = c.experts, R = c.w1_rows();
  const detail::Model<T> model = detail::widen_problem<T>(problem);
  const std::int64_t L = model.local_experts;
  const int W = problem.world_size;

  Results results;
  results.ranks.resize(static_cast<std::size_t>(W));
  std::vector<detail::RankForward<T>> forwards;
  const Clock::time_point forward_start = Clock::now();
  for (int r = 0; r < W; ++r) forwards.push_back(detail::forward_rank(model, r, routing));
  results.seconds["forward"] = seconds_since(forward_start);

  for (int r = 0; r < W; ++r) {
    const detail::RankForward<T>& fwd = forwards[static_cast<std::size_t>(r)];
    RankOutputs& out = results.ranks[static_cast<std::size_t>(r)];
    const std::int64_t S = model.ranks[static_cast<std::size_t>(r)].tokens;
    out.out = to_tensor(fwd.out, {S, H});
    out.routing = to_routing(fwd.routing, S, c.top_k);
    out.aux_loss = static_cast<double>(fwd.aux_loss);
    out.z_loss = static_cast<double>(fwd.z_loss);
  }
  if (!problem.backward) return results;

  const Clock::time_point backward_start = Clock::now();
  std::vector<detail::RankGradients<T>> grads = detail::zero_gradients(model);
  // Ranks in increasing order: each owner's expert gradients sum the tokens of rank 0 first,
  // then rank 1, ... — a fixed order, so the result is deterministic.
  for (int r = 0; r < W; ++r)
    detail::backward_rank(model, r, forwards[static_cast<std::size_t>(r)], grads);
  results.seconds["backward"] = seconds_since(backward_start);

  for (int r = 0; r < W; ++r) {
    const detail::RankGradients<T>& g = grads[static_cast<std::size_t>(r)];
    RankOutputs& out = results.ranks[static_cast<std::size_t>(r)];
    out.dx = to_tensor(g.dx, {model.ranks[static_cast<std::size_t>(r)].tokens, H});
    out.dwg = to_tensor(g.dwg, {E, H});
    out.dw1 = to_tensor(g.dw1, {L, R, H});
    out.dw2 = to_tensor(g.dw2, {L, H, P});
    if (c.bias) {
      out.db1 = to_tensor(g.db1, {L, R});
      out.db2 = to_tensor(g.db2, {L, H});
    }
  }
  return results;
}

}  // namespace

Results run(const Problem& problem, Precision precision, const RoutingOverride* routing) {
  validate_problem(problem);
  switch (precision) {
    case Precision::fp64:
      return run_in<double>(problem, routing);
    case Precision::fp32:
      return run_in<float>(problem, routing);
  }
  FLASHMOE_FAIL("reference::run: invalid precision ", static_cast<int>(precision));
}

}  // namespace flashmoe::reference
