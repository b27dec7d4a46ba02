// The baseline's gate (SPEC §2.1–2.5, §2.8) and gate backward (§3, gate path), per block of
// tokens of one rank. Logits and their gradients go through the same tile GEMM as the experts;
// softmax, top-k, capacity and slot assignment are the shared math functions.
#include <algorithm>
#include <type_traits>

#include "bench/baseline_state.hpp"
#include "math/capacity.hpp"
#include "math/softmax.hpp"
#include "math/topk.hpp"
#include "platform/cpu/gemm.hpp"

namespace flashmoe::bench::detail {
namespace {

template <typename T>
constexpr ElementType type_of() {
  return element_type_of<T>();
}

// The rows [first, first + count) of a [rows, cols] T matrix as Acc: the data itself when T is
// Acc, else a widened copy in `scratch` (bf16 → f32 is exact).
template <typename T>
const AccOf<T>* widened(const T* data, std::int64_t cols, std::int64_t first, std::int64_t count,
                        std::vector<AccOf<T>>& scratch) {
  if constexpr (std::is_same_v<T, AccOf<T>>) {
    return data + first * cols;
  } else {
    scratch.resize(static_cast<std::size_t>(count * cols));
    for (std::int64_t i = 0; i < count * cols; ++i)
      scratch[static_cast<std::size_t>(i)] = to_float(data[first * cols + i]);
    return scratch.data();
  }
}

}  // namespace

template <typename T>
void gate_forward_block(BaselineState<T>& s, int rank, std::int64_t first_token) {
  using Acc = AccOf<T>;
  RankState<T>& r = s.ranks[static_cast<std::size_t>(rank)];
  const std::int64_t H = s.hidden, E = s.experts, k = s.top_k;
  const std::int64_t count = std::min(kTokenBlock, r.tokens - first_token);

  // logits = x·wgᵀ  [count, E], accumulated in Acc.
  cpu::GemmArgs g;
  g.m = count;
  g.n = E;
  g.k = H;
  g.a = r.x + first_token * H;
  g.a_type = type_of<T>();
  g.lda = H;
  g.b = s.problem->wg.raw();
  g.b_type = type_of<T>();
  g.ldb = H;
  g.trans_b = true;
  g.c = r.logits.data() + first_token * E;
  g.c_type = type_of<Acc>();
  g.ldc = E;
  cpu::gemm(g);

  const bool normalize = s.problem->config.normalize_weights;
  for (std::int64_t t = first_token; t < first_token + count; ++t) {
    Acc* probs = &r.probs[static_cast<std::size_t>(t * E)];
    r.lse[static_cast<std::size_t>(t)] =
        math::softmax_row(&r.logits[static_cast<std::size_t>(t * E)], probs, E);
    std::int32_t* index = &r.topk_index[static_cast<std::size_t>(t * k)];
    math::topk_row(probs, E, static_cast<std::int32_t>(k), index, static_cast<Acc*>(nullptr));
    Acc chosen_sum = Acc(0);  // Σ_{i<k} p[t, e_i], in increasing i
    for (std::int64_t j = 0; j < k; ++j) chosen_sum += probs[index[j]];
    for (std::int64_t j = 0; j < k; ++j)
      r.topk_weight[static_cast<std::size_t>(t * k + j)] =
          normalize ? probs[index[j]] / chosen_sum : probs[index[j]];
  }
}

template <typename T>
void route_rank(BaselineState<T>& s, int rank) {
  using Acc = AccOf<T>;
  RankState<T>& r = s.ranks[static_cast<std::size_t>(rank)];
  const Config& c = s.problem->config;
  const std::int64_t S = r.tokens, E = s.experts, k = s.top_k, H = s.hidden;
  const std::int64_t capacity = math::expert_capacity(S, k, E, c.capacity_factor, c.drop_tokens);
  math::assign_slots(r.topk_index.data(), S, k, E, capacity, r.kept.data(), r.position.data(),
                     r.routed.data(), r.accepted.data());
  r.packet_offset.assign(static_cast<std::size_t>(E + 1), 0);
  for (std::int64_t e = 0; e < E; ++e)
    r.packet_offset[static_cast<std::size_t>(e + 1)] =
        r.packet_offset[static_cast<std::size_t>(e)] + r.accepted[static_cast<std::size_t>(e)];
  const std::int64_t packet_rows = r.packet_offset.back();
  r.send_rows.assign(static_cast<std::size_t>(packet_rows * H), T{});
  r.y_rows.assign(static_cast<std::size_t>(packet_rows * H), Acc(0));

  // §2.8, in the reference's summation order.
  r.aux_loss = r.z_loss = 0.0;
  if (S == 0) return;
  Acc aux = Acc(0);
  for (std::int64_t e = 0; e < E; ++e) {
    const Acc fraction =
        static_cast<Acc>(r.routed[static_cast<std::size_t>(e)]) / static_cast<Acc>(S * k);
    Acc mean_prob = Acc(0);
    for (std::int64_t t = 0; t < S; ++t) mean_prob += r.probs[static_cast<std::size_t>(t * E + e)];
    mean_prob /= static_cast<Acc>(S);
    aux += fraction * mean_prob;
  }
  r.aux_loss = static_cast<double>(static_cast<Acc>(E) * aux);
  Acc z = Acc(0);
  for (std::int64_t t = 0; t < S; ++t)
    z += r.lse[static_cast<std::size_t>(t)] * r.lse[static_cast<std::size_t>(t)];
  r.z_loss = static_cast<double>(z / static_cast<Acc>(S));
}

template <typename T>
void gate_backward_block(BaselineState<T>& s, int rank, std::int64_t first_token) {
  using Acc = AccOf<T>;
  RankState<T>& r = s.ranks[static_cast<std::size_t>(rank)];
  const Config& c = s.problem->config;
  const std::int64_t S = r.tokens, E = s.experts, k = s.top_k, H = s.hidden;
  const std::int64_t count = std::min(kTokenBlock, S - first_token);
  const Acc d_aux = static_cast<Acc>(s.problem->d_aux), d_z = static_cast<Acc>(s.problem->d_z);

  std::vector<Acc> dprobs(static_cast<std::size_t>(E));
  for (std::int64_t t = first_token; t < first_token + count; ++t) {
    // Expert path: dx[t] = Σ_j kept dx of slot j, in increasing j.
    Acc* dx_row = &r.dx[static_cast<std::size_t>(t * H)];
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t slot = static_cast<std::size_t>(t * k + j);
      if (!r.kept[slot]) continue;
      const std::int64_t row =
          r.packet_offset[static_cast<std::size_t>(r.topk_index[slot])] + r.position[slot];
      const Acc* returned = &r.dx_rows[static_cast<std::size_t>(row * H)];
      for (std::int64_t h = 0; h < H; ++h) dx_row[h] += returned[h];
    }

    // dp: the load-balance term (the same for every token), then the routing weights'.
    for (std::int64_t e = 0; e < E; ++e)
      dprobs[static_cast<std::size_t>(e)] =
          d_aux * static_cast<Acc>(E) *
          (static_cast<Acc>(r.routed[static_cast<std::size_t>(e)]) / static_cast<Acc>(S * k)) /
          static_cast<Acc>(S);
    const Acc* probs = &r.probs[static_cast<std::size_t>(t * E)];
    const std::int32_t* index = &r.topk_index[static_cast<std::size_t>(t * k)];
    const Acc* dweight = &r.slot_dweight[static_cast<std::size_t>(t * k)];
    if (c.normalize_weights) {
      Acc chosen_sum = Acc(0), weighted = Acc(0);
      for (std::int64_t i = 0; i < k; ++i) chosen_sum += probs[index[i]];
      for (std::int64_t i = 0; i < k; ++i)
        weighted += dweight[i] * r.topk_weight[static_cast<std::size_t>(t * k + i)];
      for (std::int64_t j = 0; j < k; ++j)
        dprobs[static_cast<std::size_t>(index[j])] += (dweight[j] - weighted) / chosen_sum;
    } else {
      for (std::int64_t j = 0; j < k; ++j) dprobs[static_cast<std::size_t>(index[j])] += dweight[j];
    }

    // Softmax backward and the z-loss term.
    Acc expected = Acc(0);
    for (std::int64_t e = 0; e < E; ++e) expected += probs[e] * dprobs[static_cast<std::size_t>(e)];
    Acc* dlogits = &r.dlogits[static_cast<std::size_t>(t * E)];
    const Acc z_scale = d_z * Acc(2) / static_cast<Acc>(S) * r.lse[static_cast<std::size_t>(t)];
    for (std::int64_t e = 0; e < E; ++e) {
      dlogits[e] = probs[e] * (dprobs[static_cast<std::size_t>(e)] - expected);
      dlogits[e] += z_scale * probs[e];
    }
  }

  // dx += dlogits·wg  [count, H], in Acc.
  cpu::GemmArgs g;
  g.m = count;
  g.n = H;
  g.k = E;
  g.a = r.dlogits.data() + first_token * E;
  g.a_type = type_of<Acc>();
  g.lda = E;
  g.b = std::is_same_v<T, Acc> ? s.problem->wg.raw() : static_cast<const void*>(s.wg_acc.data());
  g.b_type = type_of<Acc>();
  g.ldb = H;
  g.c = r.dx.data() + first_token * H;
  g.c_type = type_of<Acc>();
  g.ldc = H;
  g.accumulate = true;
  cpu::gemm(g);
}

template <typename T>
void gate_weight_gradient(BaselineState<T>& s, int rank) {
  using Acc = AccOf<T>;
  RankState<T>& r = s.ranks[static_cast<std::size_t>(rank)];
  const std::int64_t S = r.tokens, E = s.experts, H = s.hidden;
  std::vector<Acc> scratch;
  // dwg = dlogitsᵀ·x  [E, H], summed over this rank's tokens.
  cpu::GemmArgs g;
  g.m = E;
  g.n = H;
  g.k = S;
  g.a = r.dlogits.data();
  g.a_type = type_of<Acc>();
  g.lda = E;
  g.trans_a = true;
  g.b = widened(r.x, H, 0, S, scratch);
  g.b_type = type_of<Acc>();
  g.ldb = H;
  g.c = r.dwg.data();
  g.c_type = type_of<Acc>();
  g.ldc = H;
  cpu::gemm(g);
}

#define FLASHMOE_INSTANTIATE(T)                                               \
  template void gate_forward_block<T>(BaselineState<T>&, int, std::int64_t);  \
  template void route_rank<T>(BaselineState<T>&, int);                        \
  template void gate_backward_block<T>(BaselineState<T>&, int, std::int64_t); \
  template void gate_weight_gradient<T>(BaselineState<T>&, int);
FLASHMOE_INSTANTIATE(double)
FLASHMOE_INSTANTIATE(float)
FLASHMOE_INSTANTIATE(bfloat16)
#undef FLASHMOE_INSTANTIATE

}  // namespace flashmoe::bench::detail
