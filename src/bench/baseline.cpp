// run_baseline: the phases of the bulk-synchronous MoE layer, each a parallel_for over its
// tasks followed by the pool's barrier. Phase times are wall times (Results.seconds).
#include "bench/baseline.hpp"

#include <algorithm>
#include <thread>
#include <utility>

#include "bench/baseline_state.hpp"
#include "bench/thread_pool.hpp"
#include "bench/timing.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe::bench {
namespace {

using detail::AccOf;
using detail::BaselineState;
using detail::kRowBlock;
using detail::kTokenBlock;

// (owner, first row) of every block of `count` rows per owner, in owner order.
std::vector<std::pair<std::int64_t, std::int64_t>> blocks(const std::vector<std::int64_t>& rows,
                                                          std::int64_t block) {
  std::vector<std::pair<std::int64_t, std::int64_t>> result;
  for (std::size_t owner = 0; owner < rows.size(); ++owner)
    for (std::int64_t first = 0; first < rows[owner]; first += block)
      result.emplace_back(static_cast<std::int64_t>(owner), first);
  return result;
}

// Runs fn(owner, first) for every block on the pool and returns when all are done.
template <typename Fn>
void for_blocks(ThreadPool& pool, const std::vector<std::pair<std::int64_t, std::int64_t>>& list,
                Fn&& fn) {
  pool.parallel_for(static_cast<std::int64_t>(list.size()), [&](std::int64_t i) {
    const auto& [owner, first] = list[static_cast<std::size_t>(i)];
    fn(owner, first);
  });
}

template <typename T>
std::vector<AccOf<T>> widened(const HostTensor& tensor, std::int64_t offset, std::int64_t count) {
  std::vector<AccOf<T>> values(static_cast<std::size_t>(count));
  const auto data = tensor.data<T>();
  for (std::int64_t i = 0; i < count; ++i)
    values[static_cast<std::size_t>(i)] =
        static_cast<AccOf<T>>(to_float(data[static_cast<std::size_t>(offset + i)]));
  return values;
}

// Shapes, inputs, buffers and per-expert weight views.
template <typename T>
void set_up(BaselineState<T>& s, const Problem& problem) {
  const Config& c = problem.config;
  const int W = problem.world_size;
  s.problem = &problem;
  s.hidden = c.hidden;
  s.ffn = c.ffn;
  s.experts = c.experts;
  s.top_k = c.top_k;
  s.w1_rows = c.w1_rows();
  s.local_experts = c.local_experts(W);
  const std::int64_t H = s.hidden, P = s.ffn, E = s.experts, k = s.top_k, R = s.w1_rows;

  s.ranks.resize(static_cast<std::size_t>(W));
  for (int r = 0; r < W; ++r) {
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

  s.experts_state.resize(static_cast<std::size_t>(E));
  for (std::int64_t e = 0; e < E; ++e) {
    auto& ex = s.experts_state[static_cast<std::size_t>(e)];
    const RankInputs& owner = problem.ranks[static_cast<std::size_t>(e / s.local_experts)];
    const std::int64_t local = e % s.local_experts;
    ex.w1 = owner.w1.data<T>().data() + local * R * H;
    ex.w2 = owner.w2.data<T>().data() + local * H * P;
    if (c.bias) {
      ex.b1 = widened<T>(owner.b1, local * R, R);
      ex.b2 = widened<T>(owner.b2, local * H, H);
    }
  }
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

// Gradient buffers: dx, dwg, the gate-path scratch per rank; dw/db tensors of the owners.
template <typename T>
void set_up_backward(BaselineState<T>& s, Results& results) {
  using Acc = AccOf<T>;
  const Problem& problem = *s.problem;
  const std::int64_t H = s.hidden, P = s.ffn, E = s.experts, k = s.top_k, R = s.w1_rows;
  const std::int64_t L = s.local_experts;
  if (!std::is_same_v<T, Acc>) s.wg_acc = widened<T>(problem.wg, 0, E * H);
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    auto& rank = s.ranks[r];
    const std::int64_t S = rank.tokens;
    rank.dx_rows.assign(rank.y_rows.size(), 0);
    rank.slot_dweight.assign(static_cast<std::size_t>(S * k), 0);
    rank.dlogits.assign(static_cast<std::size_t>(S * E), 0);
    rank.dx.assign(static_cast<std::size_t>(S * H), 0);
    rank.dwg.assign(static_cast<std::size_t>(E * H), 0);
    RankOutputs& out = results.ranks[r];
    zeroed<Acc>(out.dw1, {L, R, H});
    zeroed<Acc>(out.dw2, {L, H, P});
    if (problem.config.bias) {
      zeroed<Acc>(out.db1, {L, R});
      zeroed<Acc>(out.db2, {L, H});
    }
  }
  for (std::int64_t e = 0; e < E; ++e) {
    auto& ex = s.experts_state[static_cast<std::size_t>(e)];
    RankOutputs& owner = results.ranks[static_cast<std::size_t>(e / L)];
    const std::int64_t local = e % L;
    ex.dw1 = owner.dw1.data<Acc>().data() + local * R * H;
    ex.dw2 = owner.dw2.data<Acc>().data() + local * H * P;
    if (problem.config.bias) {
      ex.db1 = owner.db1.data<Acc>().data() + local * R;
      ex.db2 = owner.db2.data<Acc>().data() + local * H;
    }
  }
}

template <typename T>
void forward(BaselineState<T>& s, ThreadPool& pool, Results& results) {
  const Clock::time_point start = Clock::now();
  const std::int64_t E = s.experts, W = static_cast<std::int64_t>(s.ranks.size());
  std::vector<std::int64_t> tokens;
  for (const auto& rank : s.ranks) tokens.push_back(rank.tokens);
  const auto token_blocks = blocks(tokens, kTokenBlock);
  const bool keep = s.problem->backward;

  Clock::time_point phase = Clock::now();
  for_blocks(pool, token_blocks, [&](std::int64_t r, std::int64_t t0) {
    detail::gate_forward_block(s, static_cast<int>(r), t0);
  });
  pool.parallel_for(W, [&](std::int64_t r) { detail::route_rank(s, static_cast<int>(r)); });
  results.seconds["forward.gate"] = seconds_since(phase);

  phase = Clock::now();
  for_blocks(pool, token_blocks, [&](std::int64_t r, std::int64_t t0) {
    detail::pack_x_block(s, static_cast<int>(r), t0);
  });
  pool.parallel_for(E, [&](std::int64_t e) {
    detail::size_expert(s, e);
    detail::receive_rows(s, e, false);
  });
  results.seconds["forward.dispatch"] = seconds_since(phase);

  phase = Clock::now();
  std::vector<std::int64_t> expert_rows;
  for (const auto& ex : s.experts_state) expert_rows.push_back(ex.rows);
  for_blocks(pool, blocks(expert_rows, kRowBlock), [&](std::int64_t e, std::int64_t r0) {
    detail::expert_forward_block(s, e, r0, keep);
  });
  results.seconds["forward.expert_gemm"] = seconds_since(phase);

  phase = Clock::now();
  pool.parallel_for(E, [&](std::int64_t e) { detail::return_rows(s, e, false); });
  for_blocks(pool, token_blocks, [&](std::int64_t r, std::int64_t t0) {
    detail::combine_block(s, static_cast<int>(r), t0);
  });
  results.seconds["forward.combine"] = seconds_since(phase);
  results.seconds["forward"] = seconds_since(start);
}

template <typename T>
void backward(BaselineState<T>& s, ThreadPool& pool, Results& results) {
  const Clock::time_point start = Clock::now();
  const std::int64_t E = s.experts, W = static_cast<std::int64_t>(s.ranks.size());
  set_up_backward(s, results);
  std::vector<std::int64_t> tokens;
  for (const auto& rank : s.ranks) tokens.push_back(rank.tokens);
  const auto token_blocks = blocks(tokens, kTokenBlock);

  Clock::time_point phase = Clock::now();
  for_blocks(pool, token_blocks, [&](std::int64_t r, std::int64_t t0) {
    detail::pack_dy_block(s, static_cast<int>(r), t0);
  });
  pool.parallel_for(E, [&](std::int64_t e) { detail::receive_rows(s, e, true); });
  results.seconds["backward.dispatch"] = seconds_since(phase);

  phase = Clock::now();
  std::vector<std::int64_t> expert_rows;
  for (const auto& ex : s.experts_state) expert_rows.push_back(ex.rows);
  for_blocks(pool, blocks(expert_rows, kRowBlock),
             [&](std::int64_t e, std::int64_t r0) { detail::expert_backward_block(s, e, r0); });
  results.seconds["backward.expert_gemm"] = seconds_since(phase);

  phase = Clock::now();
  // Output-row blocks of dw1 (R rows) and dw2 (H rows) of every expert: (2e, ·) and (2e+1, ·).
  std::vector<std::int64_t> gradient_rows;
  for (std::int64_t e = 0; e < E; ++e) {
    gradient_rows.push_back(s.w1_rows);
    gradient_rows.push_back(s.hidden);
  }
  for_blocks(pool, blocks(gradient_rows, kRowBlock), [&](std::int64_t i, std::int64_t o0) {
    detail::expert_weight_gradient_block(s, i / 2, i % 2 == 0, o0);
  });
  results.seconds["backward.weight_gemm"] = seconds_since(phase);

  phase = Clock::now();
  pool.parallel_for(E, [&](std::int64_t e) { detail::return_rows(s, e, true); });
  for_blocks(pool, token_blocks, [&](std::int64_t r, std::int64_t t0) {
    detail::gate_backward_block(s, static_cast<int>(r), t0);
  });
  pool.parallel_for(W,
                    [&](std::int64_t r) { detail::gate_weight_gradient(s, static_cast<int>(r)); });
  results.seconds["backward.combine"] = seconds_since(phase);
  results.seconds["backward"] = seconds_since(start);
}

// `values` into `tensor` with `shape`, reusing the tensor's storage when it already has that
// shape (every pass after the first): results are refreshed in place, not reallocated.
template <typename V>
void store(const std::vector<V>& values, Shape shape, HostTensor& tensor) {
  if (tensor.type() != element_type_of<V>() || tensor.shape() != shape)
    tensor = HostTensor::zeros<V>(std::move(shape));
  std::copy(values.begin(), values.end(), tensor.data<V>().begin());
}

int choose_threads(const Problem& problem, const BaselineOptions& options) {
  FLASHMOE_CHECK(options.workers_per_rank >= 0,
                 "baseline: workers_per_rank = ", options.workers_per_rank,
                 ", must be ≥ 0 (0 chooses)");
  const int hardware = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int workers = options.workers_per_rank > 0 ? options.workers_per_rank
                                                   : std::max(1, hardware / problem.world_size);
  return workers * problem.world_size;
}

}  // namespace

struct BaselineLayer::Impl {
  virtual ~Impl() = default;
  virtual void forward() = 0;
  virtual void backward() = 0;
  Results results;
};

namespace {

// The pool lives as long as the layer; the state's buffers are sized by the first pass and
// reused (std::vector::assign to the same size does not reallocate) by the later ones.
template <typename T>
class BaselineImpl final : public BaselineLayer::Impl {
 public:
  BaselineImpl(const Problem& problem, int threads) : problem_(problem), pool_(threads) {
    results.ranks.resize(static_cast<std::size_t>(problem.world_size));
    set_up(s_, problem_);
  }

  void forward() override {
    validate_problem(problem_);
    set_up(s_, problem_);
    results.seconds.clear();
    bench::forward(s_, pool_, results);
    forward_done_ = true;
    const std::int64_t H = s_.hidden, k = s_.top_k;
    for (std::size_t r = 0; r < s_.ranks.size(); ++r) {
      const auto& rank = s_.ranks[r];
      RankOutputs& out = results.ranks[r];
      const std::int64_t S = rank.tokens;
      store(rank.out, {S, H}, out.out);
      store(rank.topk_index, {S, k}, out.routing.topk_index);
      store(rank.topk_weight, {S, k}, out.routing.topk_weight);
      store(rank.kept, {S, k}, out.routing.kept);
      out.routing.routed = rank.routed;
      out.routing.accepted = rank.accepted;
      out.aux_loss = rank.aux_loss;
      out.z_loss = rank.z_loss;
    }
  }

  void backward() override {
    FLASHMOE_CHECK(forward_done_ && problem_.backward,
                   "baseline: backward needs a forward() of a problem with backward = true");
    bench::backward(s_, pool_, results);
    const std::int64_t H = s_.hidden, E = s_.experts;
    for (std::size_t r = 0; r < s_.ranks.size(); ++r) {
      const auto& rank = s_.ranks[r];
      store(rank.dx, {rank.tokens, H}, results.ranks[r].dx);
      store(rank.dwg, {E, H}, results.ranks[r].dwg);
    }
  }

 private:
  const Problem& problem_;
  BaselineState<T> s_;
  ThreadPool pool_;
  bool forward_done_ = false;
  static_assert(std::is_same_v<AccOf<T>, float> || std::is_same_v<AccOf<T>, double>);
};

std::unique_ptr<BaselineLayer::Impl> make_impl(const Problem& problem,
                                               const BaselineOptions& options) {
  validate_problem(problem);
  const int threads = choose_threads(problem, options);
  switch (problem.config.dtype) {
    case DType::fp64:
      return std::make_unique<BaselineImpl<double>>(problem, threads);
    case DType::fp32:
      return std::make_unique<BaselineImpl<float>>(problem, threads);
    case DType::bf16:
      return std::make_unique<BaselineImpl<bfloat16>>(problem, threads);
    case DType::fp16:
      break;
  }
  FLASHMOE_FAIL("baseline: dtype = ", to_string(problem.config.dtype),
                " is not supported (allowed: fp64, fp32, bf16; the CPU GEMM has no fp16 path)");
}

}  // namespace

BaselineLayer::BaselineLayer(const Problem& problem, const BaselineOptions& options)
    : impl_(make_impl(problem, options)) {}
BaselineLayer::~BaselineLayer() = default;
void BaselineLayer::forward() {
  impl_->forward();
}
void BaselineLayer::backward() {
  impl_->backward();
}
const Results& BaselineLayer::results() const {
  return impl_->results;
}

Results run_baseline(const Problem& problem, const BaselineOptions& options) {
  BaselineLayer layer(problem, options);
  layer.forward();
  if (problem.backward) layer.backward();
  return layer.results();
}

}  // namespace flashmoe::bench
