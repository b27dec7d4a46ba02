#include "layer_call.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "errors.hpp"

namespace flashmoe::python {
namespace {

void check_world(const WorldInfo& world) {
  if (world.size < 1 || world.rank < 0 || world.rank >= world.size)
    throw ArgumentError(detail::concat("world: rank ", world.rank, " of size ", world.size,
                                       " is invalid; allowed 0 ≤ rank < size, size ≥ 1"));
  if (world.size != 1)
    throw NotBuiltError(
        detail::concat("multi-rank layers (world size ", world.size,
                       ") need the MPI transport, which is not built yet; run with a single rank"));
}

bool same_bytes(const HostTensor& a, const HostTensor& b) {
  return a.type() == b.type() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

}  // namespace

LayerCall::LayerCall(Config config, const LayerInputs& inputs, std::string_view backend,
                     WorldInfo world)
    : backend_(&find_backend(backend)) {
  check_world(world);
  if (inputs.x.shape.size() != 2)
    throw ArgumentError(detail::concat("tensor x: expected 2 dimensions [S, ", config.hidden,
                                       "], got ", shape_to_string(inputs.x.shape)));
  const std::int64_t S = inputs.x.shape[0];
  // max_tokens sizes the backend's buffers; one call needs exactly its own token count.
  config.max_tokens = std::max<std::int64_t>(S, 1);
  as_argument_error([&] { validate(config, world.size); });
  if (config.dtype == DType::fp16 && !backend_->supports_fp16)
    throw ArgumentError(detail::concat("dtype fp16 is not supported by backend '", backend_->name,
                                       "' (use bf16, or backend='reference')"));

  const ElementType type = storage_type(config.dtype);
  const std::int64_t E = config.experts, H = config.hidden, P = config.ffn;
  const std::int64_t L = config.local_experts(world.size), R = config.w1_rows();
  if (inputs.b1.has_value() != config.bias || inputs.b2.has_value() != config.bias)
    throw ArgumentError(config.bias ? "bias = true needs both b1 and b2"
                                    : "b1/b2 given but bias = false; pass None for both");
  problem_.config = config;
  problem_.world_size = world.size;
  RankInputs& own = problem_.ranks.emplace_back();
  own.x = copy_in(inputs.x, "x", type, {S, H});
  problem_.wg = copy_in(inputs.wg, "wg", type, {E, H});
  own.w1 = copy_in(inputs.w1, "w1", type, {L, R, H});
  own.w2 = copy_in(inputs.w2, "w2", type, {L, H, P});
  if (config.bias) {
    own.b1 = copy_in(*inputs.b1, "b1", type, {L, R});
    own.b2 = copy_in(*inputs.b2, "b2", type, {L, H});
  }
  as_argument_error([&] { validate_problem(problem_); });
  forward_ = backend_->run(problem_);
}

void LayerCall::backward(const BufferRef& dout, double d_aux, double d_z) {
  const std::int64_t S = tokens(), H = problem_.config.hidden;
  problem_.ranks.front().dout = copy_in(dout, "dout", storage_type(problem_.config.dtype), {S, H});
  problem_.backward = true;
  problem_.d_aux = d_aux;
  problem_.d_z = d_z;
  Results recomputed = backend_->run(problem_);
  // The upstream gradient is not needed past this call; the inputs stay for a second backward
  // (retain_graph=True).
  problem_.ranks.front().dout = HostTensor();
  problem_.backward = false;
  check_same_routing(recomputed);
  gradients_ = std::move(recomputed);
}

void LayerCall::check_same_routing(const Results& recomputed) const {
  const Routing& before = forward_.ranks.front().routing;
  const Routing& now = recomputed.ranks.front().routing;
  if (!same_bytes(before.topk_index, now.topk_index) || !same_bytes(before.kept, now.kept) ||
      before.routed != now.routed || before.accepted != now.accepted)
    throw Error(detail::concat("backend '", backend_->name,
                               "': the routing recomputed for backward differs from the forward's "
                               "on the same inputs; this breaks SPEC §5 (determinism), please "
                               "report it"));
}

const std::map<std::string, double>& LayerCall::seconds() const {
  return gradients_ ? gradients_->seconds : forward_.seconds;
}

const HostTensor& LayerCall::result(std::string_view name) const {
  const RankOutputs& fwd = forward_.ranks.front();
  if (name == "out") return fwd.out;
  if (name == "topk_index") return fwd.routing.topk_index;
  if (name == "topk_weight") return fwd.routing.topk_weight;
  if (name == "kept") return fwd.routing.kept;
  const bool gradient = name == "dx" || name == "dwg" || name == "dw1" || name == "db1" ||
                        name == "dw2" || name == "db2";
  if (!gradient)
    throw ArgumentError(detail::concat("unknown result '", name,
                                       "'; allowed: out, topk_index, topk_weight, kept, dx, dwg, "
                                       "dw1, db1, dw2, db2"));
  if (!gradients_) throw ArgumentError(detail::concat("result ", name, ": call backward() first"));
  if ((name == "db1" || name == "db2") && !problem_.config.bias)
    throw ArgumentError(detail::concat("result ", name, " does not exist: bias = false"));
  const RankOutputs& grad = gradients_->ranks.front();
  if (name == "dx") return grad.dx;
  if (name == "dwg") return grad.dwg;
  if (name == "dw1") return grad.dw1;
  if (name == "db1") return grad.db1;
  if (name == "dw2") return grad.dw2;
  return grad.db2;
}

void LayerCall::copy_out(std::string_view name, const BufferRef& destination) const {
  python::copy_out(result(name), destination, name);
}

}  // namespace flashmoe::python
