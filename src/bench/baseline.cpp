// run_baseline: the phases of the bulk-synchronous MoE layer, each a parallel_for over its
// tasks followed by the pool's barrier. Phase times are wall times (Results.seconds).
#include "bench/baseline.hpp"

#include <algorithm>
#include <thread>
#include <utility>

#include "bench/baseline_state.hpp"
#include "bench/phase_blocks.hpp"
#include "bench/timing.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe::bench {
namespace {

using detail::AccOf;
using detail::BaselineState;
using detail::blocks;
using detail::for_blocks;
using detail::kTokenBlock;

// Every rank and every expert live in this process.
template <typename T>
void set_up(BaselineState<T>& s, const Problem& problem) {
  detail::set_up_shapes(s, problem);
  for (int r = 0; r < problem.world_size; ++r) detail::set_up_rank(s, r);
  for (std::int64_t e = 0; e < s.experts; ++e) detail::set_up_expert(s, e);
}

template <typename T>
void set_up_backward(BaselineState<T>& s, Results& results) {
  detail::set_up_gate_backward(s);
  for (std::size_t r = 0; r < s.ranks.size(); ++r)
    detail::set_up_rank_backward(s, static_cast<int>(r), results.ranks[r]);
  for (std::int64_t e = 0; e < s.experts; ++e)
    detail::set_up_expert_backward(s, e,
                                   results.ranks[static_cast<std::size_t>(e / s.local_experts)]);
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
  detail::expert_forward_phase(s, pool, 0, E, keep);
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
  detail::expert_backward_phase(s, pool, 0, E);
  results.seconds["backward.expert_gemm"] = seconds_since(phase);

  phase = Clock::now();
  detail::expert_weight_gradient_phase(s, pool, 0, E);
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

int choose_threads(const Problem& problem, const BaselineOptions& options) {
  FLASHMOE_CHECK(options.workers_per_rank >= 0,
                 "baseline: workers_per_rank = ", options.workers_per_rank,
                 ", must be ≥ 0 (0 chooses)");
  const int hardware = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int workers = options.workers_per_rank > 0 ? options.workers_per_rank
                                                   : std::max(1, hardware / problem.world_size);
  return workers * problem.world_size;
}

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
    for (std::size_t r = 0; r < s_.ranks.size(); ++r)
      detail::store_forward_outputs(s_, static_cast<int>(r), results.ranks[r]);
  }

  void backward() override {
    FLASHMOE_CHECK(forward_done_ && problem_.backward,
                   "baseline: backward needs a forward() of a problem with backward = true");
    bench::backward(s_, pool_, results);
    for (std::size_t r = 0; r < s_.ranks.size(); ++r)
      detail::store_backward_outputs(s_, static_cast<int>(r), results.ranks[r]);
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
  return detail::make_for_dtype<BaselineImpl>("baseline", problem.config.dtype, problem,
                                              choose_threads(problem, options));
}

}  // namespace

BaselineLayer::BaselineLayer(const Problem& problem, const BaselineOptions& options)
    : impl_(make_impl(problem, options)) {}
BaselineLayer::BaselineLayer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BaselineLayer::BaselineLayer(BaselineLayer&&) noexcept = default;
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
