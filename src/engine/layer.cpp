// engine::Layer with every rank as threads of this process: the local world (every rank local,
// the local transport) behind the pass driver of layer_impl.hpp, and the layer's public face.
#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <vector>

#include "common/test_fault.hpp"
#include "engine/engine.hpp"
#include "engine/layer_impl.hpp"
#include "flashmoe/error.hpp"
#include "transport/local/local_transport.hpp"

namespace flashmoe::engine {
namespace {

// Every rank in this process. Buffers are not zero-filled: the layer clears what must start at
// zero and leaves the large data regions alone.
class LocalLayerWorld {
 public:
  using Transport = transport::LocalTransport;

  LocalLayerWorld(int world_size, std::size_t symmetric_bytes)
      : world_(world_size, symmetric_bytes, /*zero_fill=*/false) {
    for (int r = 0; r < world_size; ++r) ranks_.push_back(r);
  }
  int world_size() const { return world_.world_size(); }
  const std::vector<int>& local_ranks() const { return ranks_; }
  int ranks_on_this_node() const { return world_.world_size(); }
  std::byte* buffer(int rank) { return world_.buffer(rank); }
  Transport transport(int rank) { return world_.transport(rank); }
  bool buffers_zeroed() const { return false; }
  // Every rank is local: once every pass in flight ended, no rank is inside the failed pass.
  void after_failure() {}
  void check_usable() const {}
  // Unreachable in practice (every rank's error is recorded here); kept for the interface.
  std::exception_ptr peer_abort(int rank, std::uint32_t epoch) const {
    return std::make_exception_ptr(PeerAbortError(detail::concat(
        "rank ", rank, ": pass ", epoch, " was aborted by another rank of this process")));
  }

 private:
  transport::LocalWorld world_;
  std::vector<int> ranks_;
};

template <typename T>
std::unique_ptr<Layer::Impl> make_local(const Problem& problem, EngineOptions options) {
  return std::make_unique<LayerImpl<T, LocalLayerWorld>>(
      problem, std::move(options), problem.world_size, [&problem](std::size_t symmetric_bytes) {
        return std::make_unique<LocalLayerWorld>(problem.world_size, symmetric_bytes);
      });
}

}  // namespace

void check_engine_problem(const Problem& problem) {
  validate(problem.config, problem.world_size);
  FLASHMOE_CHECK(
      problem.world_size <= 32767 && problem.config.local_experts(problem.world_size) <= 32767,
      "engine: world_size = ", problem.world_size,
      " and experts per rank = ", problem.config.local_experts(problem.world_size),
      " must be ≤ 32767");
  FLASHMOE_CHECK(problem.config.dtype != DType::fp16, "dtype = fp16 is not supported by the cpu ",
                 "engine (allowed: fp64, fp32, bf16)");
}

Layer::Layer(const Problem& problem, EngineOptions options) {
  check_engine_problem(problem);
  switch (problem.config.dtype) {
    case DType::fp64:
      impl_ = make_local<double>(problem, std::move(options));
      return;
    case DType::fp32:
      impl_ = make_local<float>(problem, std::move(options));
      return;
    case DType::bf16:
      impl_ = make_local<bfloat16>(problem, std::move(options));
      return;
    case DType::fp16:
      break;
  }
  FLASHMOE_FAIL("dtype = fp16 is not supported by the cpu engine (allowed: fp64, fp32, bf16)");
}
Layer::Layer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Layer::~Layer() = default;
Layer::Layer(Layer&&) noexcept = default;
Layer& Layer::operator=(Layer&&) noexcept = default;
void Layer::forward() {
  impl_->forward();
}
void Layer::backward() {
  impl_->backward();
}
const Results& Layer::results() const {
  return impl_->results();
}
PassTicket Layer::submit_forward(const Problem& inputs, Results& outputs) {
  return impl_->submit(runtime::PassKind::forward, inputs, outputs);
}
PassTicket Layer::submit_backward(const Problem& inputs, Results& outputs) {
  return impl_->submit(runtime::PassKind::backward, inputs, outputs);
}
void Layer::wait(PassTicket ticket) {
  impl_->wait(ticket);
}
const runtime::WorkspaceLayout& Layer::layout() const {
  return impl_->layout();
}
const std::byte* Layer::symmetric_buffer(int rank) const {
  return impl_->symmetric_buffer(rank);
}

namespace {

// Test hook (FLASHMOE_TEST_FAULT=engine_wrong_result, common/test_fault.hpp): element 0 of rank
// 0's out and, after a backward, of its dw1 moves by the tensor's L2 norm plus one — an error
// beyond every tolerance — so the suite can show that `flashmoe run --check` fails on a wrong
// engine result and names exactly those tensors.
void spoil_result_for_test(Results& results, bool backward) {
  if (results.ranks.empty() || !test_fault_requested("engine_wrong_result")) return;
  RankOutputs& rank0 = results.ranks.front();
  for (HostTensor* tensor : {&rank0.out, backward ? &rank0.dw1 : nullptr}) {
    if (tensor == nullptr || tensor->numel() == 0) continue;
    double norm = 0.0;
    for (std::int64_t i = 0; i < tensor->numel(); ++i) norm += tensor->get(i) * tensor->get(i);
    tensor->set(0, tensor->get(0) + std::sqrt(norm) + 1.0);
  }
}

}  // namespace

void spoil_gradient_for_test(Results& results, const std::vector<int>& local_ranks) {
  if (results.ranks.empty() || !test_fault_requested("engine_wrong_gradient")) return;
  const int last = static_cast<int>(results.ranks.size()) - 1;
  if (std::find(local_ranks.begin(), local_ranks.end(), last) == local_ranks.end()) return;
  HostTensor& dw2 = results.ranks.back().dw2;
  if (dw2.numel() == 0) return;
  double norm = 0.0;
  for (std::int64_t i = 0; i < dw2.numel(); ++i) norm += dw2.get(i) * dw2.get(i);
  dw2.set(0, dw2.get(0) + 1e-5 * (std::sqrt(norm) + 1.0));
}

Results run_in_process(const Problem& problem, const EngineOptions& options) {
  Layer layer(problem, options);
  layer.forward();
  if (problem.backward) layer.backward();
  Results results = layer.results();
  spoil_result_for_test(results, problem.backward);
  return results;
}

}  // namespace flashmoe::engine
