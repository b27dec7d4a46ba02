// The baseline's set-up and result hand-over, one rank or one expert at a time: the in-process
// baseline (baseline.cpp) calls these for every rank and expert, the MPI baseline
// (mpi_baseline.cpp) for its own rank and its local experts only. Buffers are sized with
// std::vector::assign, which keeps the allocation when the size is unchanged, so later passes
// reuse the first pass's memory.
#include <algorithm>
#include <type_traits>
#include <utility>

#include "bench/baseline_state.hpp"

namespace flashmoe::bench::detail {
namespace {

template <typename T>
std::vector<AccOf<T>> widened(const HostTensor& tensor, std::int64_t offset, std::int64_t count) {
  std::vector<AccOf<T>> values(static_cast<std::size_t>(count));
  const auto data = tensor.data<T>();
  for (std::int64_t i = 0; i < count; ++i)
    values[static_cast<std::size_t>(i)] =
        static_cast<AccOf<T>>(to_float(data[static_cast<std::size_t>(offset + i)]));
  return values;
}

// `tensor` as zeros of `shape`, keeping its storage when the shape is unchanged (later passes).
template <typename V>
void zeroed(HostTensor& tensor, Shape shape) {
  if (tensor.type() == element_type_of<V>() && tensor.shape() == shape) {
    std::fill(tensor.data<V>().begin(), tensor.data<V>().end(), V(0));
    return;
  }
  tensor = HostTensor::zeros<V>(std::move(shape));
}

// `values` into `tensor` with `shape`, reusing the tensor's storage when it already has that
// shape (every pass after the first): results are refreshed in place, not reallocated.
template <typename V>
void store(const std::vector<V>& values, Shape shape, HostTensor& tensor) {
  if (tensor.type() != element_type_of<V>() || tensor.shape() != shape)
    tensor = HostTensor::zeros<V>(std::move(shape));
  std::copy(values.begin(), values.end(), tensor.data<V>().begin());
}

}  // namespace

template <typename T>
void set_up_shapes(BaselineState<T>& s, const Problem& problem) {
  const Config& c = problem.config;
  s.problem = &problem;
  s.hidden = c.hidden;
  s.ffn = c.ffn;
  s.experts = c.experts;
  s.top_k = c.top_k;
  s.w1_rows = c.w1_rows();
  s.local_experts = c.local_experts(problem.world_size);
  s.ranks.resize(static_cast<std::size_t>(problem.world_size));
  s.experts_state.resize(static_cast<std::size_t>(c.experts));
}

template <typename T>
void set_up_rank(BaselineState<T>& s, int r) {
  const Problem& problem = *s.problem;
  const std::int64_t H = s.hidden, E = s.experts, k = s.top_k;
  auto& rank = s.ranks[static_cast<std::size_t>(r)];
  const RankInputs& in = problem.ranks[static_cast<std::size_t>(r)];
  const std::int64_t S = problem.tokens(r);
  rank.tokens = S;
  rank.x = in.x.data<T>().data();
  if (problem.backward) rank.dout = in.dout.data<T>().data();
  rank.logits.assign(static_cast<std::size_t>(S * E), 0);
  rank.probs.assign(static_cast<std::size_t>(S * E), 0);
  rank.lse.assign(static_cast<std::size_t>(S), 0);
  rank.topk_index.assign(static_cast<std::size_t>(S * k), 0);
  rank.topk_weight.assign(static_cast<std::size_t>(S * k), 0);
  rank.kept.assign(static_cast<std::size_t>(S * k), 0);
  rank.position.assign(static_cast<std::size_t>(S * k), 0);
  rank.routed.assign(static_cast<std::size_t>(E), 0);
  rank.accepted.assign(static_cast<std::size_t>(E), 0);
  rank.out.assign(static_cast<std::size_t>(S * H), 0);
}

template <typename T>
void set_up_expert(BaselineState<T>& s, std::int64_t e) {
  const Problem& problem = *s.problem;
  const std::int64_t H = s.hidden, P = s.ffn, R = s.w1_rows;
  auto& ex = s.experts_state[static_cast<std::size_t>(e)];
  const RankInputs& owner = problem.ranks[static_cast<std::size_t>(e / s.local_experts)];
  const std::int64_t local = e % s.local_experts;
  ex.w1 = owner.w1.data<T>().data() + local * R * H;
  ex.w2 = owner.w2.data<T>().data() + local * H * P;
  if (problem.config.bias) {
    ex.b1 = widened<T>(owner.b1, local * R, R);
    ex.b2 = widened<T>(owner.b2, local * H, H);
  }
}

template <typename T>
void set_up_gate_backward(BaselineState<T>& s) {
  if (!std::is_same_v<T, AccOf<T>>) s.wg_acc = widened<T>(s.problem->wg, 0, s.experts * s.hidden);
}

template <typename T>
void set_up_rank_backward(BaselineState<T>& s, int r, RankOutputs& out) {
  using Acc = AccOf<T>;
  const std::int64_t H = s.hidden, P = s.ffn, E = s.experts, k = s.top_k, R = s.w1_rows;
  const std::int64_t L = s.local_experts;
  auto& rank = s.ranks[static_cast<std::size_t>(r)];
  const std::int64_t S = rank.tokens;
  rank.dx_rows.assign(rank.y_rows.size(), 0);
  rank.slot_dweight.assign(static_cast<std::size_t>(S * k), 0);
  rank.dlogits.assign(static_cast<std::size_t>(S * E), 0);
  rank.dx.assign(static_cast<std::size_t>(S * H), 0);
  rank.dwg.assign(static_cast<std::size_t>(E * H), 0);
  zeroed<Acc>(out.dw1, {L, R, H});
  zeroed<Acc>(out.dw2, {L, H, P});
  if (s.problem->config.bias) {
    zeroed<Acc>(out.db1, {L, R});
    zeroed<Acc>(out.db2, {L, H});
  }
}

template <typename T>
void set_up_expert_backward(BaselineState<T>& s, std::int64_t e, RankOutputs& owner) {
  using Acc = AccOf<T>;
  const std::int64_t H = s.hidden, P = s.ffn, R = s.w1_rows;
  auto& ex = s.experts_state[static_cast<std::size_t>(e)];
  const std::int64_t local = e % s.local_experts;
  ex.dw1 = owner.dw1.data<Acc>().data() + local * R * H;
  ex.dw2 = owner.dw2.data<Acc>().data() + local * H * P;
  if (s.problem->config.bias) {
    ex.db1 = owner.db1.data<Acc>().data() + local * R;
    ex.db2 = owner.db2.data<Acc>().data() + local * H;
  }
}

template <typename T>
void store_forward_outputs(const BaselineState<T>& s, int r, RankOutputs& out) {
  const auto& rank = s.ranks[static_cast<std::size_t>(r)];
  const std::int64_t S = rank.tokens, H = s.hidden, k = s.top_k;
  store(rank.out, {S, H}, out.out);
  store(rank.topk_index, {S, k}, out.routing.topk_index);
  store(rank.topk_weight, {S, k}, out.routing.topk_weight);
  store(rank.kept, {S, k}, out.routing.kept);
  out.routing.routed = rank.routed;
  out.routing.accepted = rank.accepted;
  out.aux_loss = rank.aux_loss;
  out.z_loss = rank.z_loss;
}

template <typename T>
void store_backward_outputs(const BaselineState<T>& s, int r, RankOutputs& out) {
  const auto& rank = s.ranks[static_cast<std::size_t>(r)];
  store(rank.dx, {rank.tokens, s.hidden}, out.dx);
  store(rank.dwg, {s.experts, s.hidden}, out.dwg);
}

#define FLASHMOE_INSTANTIATE(T)                                                           \
  template void set_up_shapes<T>(BaselineState<T>&, const Problem&);                      \
  template void set_up_rank<T>(BaselineState<T>&, int);                                   \
  template void set_up_expert<T>(BaselineState<T>&, std::int64_t);                        \
  template void set_up_gate_backward<T>(BaselineState<T>&);                               \
  template void set_up_rank_backward<T>(BaselineState<T>&, int, RankOutputs&);            \
  template void set_up_expert_backward<T>(BaselineState<T>&, std::int64_t, RankOutputs&); \
  template void store_forward_outputs<T>(const BaselineState<T>&, int, RankOutputs&);     \
  template void store_backward_outputs<T>(const BaselineState<T>&, int, RankOutputs&);
FLASHMOE_INSTANTIATE(double)
FLASHMOE_INSTANTIATE(float)
FLASHMOE_INSTANTIATE(bfloat16)
#undef FLASHMOE_INSTANTIATE

}  // namespace flashmoe::bench::detail
