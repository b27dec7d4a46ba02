#include "layer_call.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <utility>

#include "errors.hpp"
#include "mpi_support.hpp"

#if FLASHMOE_PYTHON_HAVE_MPI
#include <mpi.h>

#include "engine/mpi_layer.hpp"
#endif

namespace flashmoe::python {
namespace {

void check_world(const WorldInfo& world) {
  if (world.size < 1 || world.rank < 0 || world.rank >= world.size)
    throw ArgumentError(detail::concat("world: rank ", world.rank, " of size ", world.size,
                                       " is invalid; allowed 0 ≤ rank < size, size ≥ 1"));
  if (world.size == 1) return;
  if (!mpi_built())
    throw NotBuiltError(detail::concat("multi-rank layers (world size ", world.size,
                                       ") need the MPI transport, and this flashmoe was built "
                                       "without MPI; run with a single rank"));
  if (!mpi_started())
    throw ArgumentError(detail::concat("world: size ", world.size,
                                       " needs an MPI job: start the processes with mpirun and "
                                       "pass group='mpi'"));
  const auto [size, rank] = mpi_world();
  if (size != world.size || rank != world.rank)
    throw ArgumentError(detail::concat("world: rank ", world.rank, " of size ", world.size,
                                       " but this process is rank ", rank, " of an MPI job of ",
                                       size, " processes (use group='mpi')"));
}

bool same_bytes(const HostTensor& a, const HostTensor& b) {
  return a.type() == b.type() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

}  // namespace

LayerCall::LayerCall(Config config, const LayerInputs& inputs, std::string_view backend,
                     WorldInfo world, bool keep_for_backward)
    : rank_(world.rank) {
  check_world(world);
  if (world.size == 1) {
    prepare(std::move(config), inputs, backend, world);
  } else {
    // Over MPI an argument error on one rank must not leave the others waiting in the engine's
    // collectives: every rank checks its own arguments, then all agree (collective) before the
    // engine starts, and every rank raises when any failed.
    std::exception_ptr failure;
    try {
      prepare(std::move(config), inputs, backend, world);
    } catch (...) {
      failure = std::current_exception();
    }
    const std::int64_t S = failure ? 0 : problem_.tokens(rank_);
    const auto [failed_rank, max_tokens] = mpi_agree(failure != nullptr, S);
    if (failure) std::rethrow_exception(failure);
    if (failed_rank >= 0)
      throw ArgumentError(detail::concat("rank ", failed_rank, " of ", world.size,
                                         " refused its arguments (its error says why); every "
                                         "rank abandons this layer call"));
    // Every rank sizes its buffers for the largest token count of any rank (the configurations
    // must be equal for the engine's handshake).
    problem_.config.max_tokens = std::max<std::int64_t>(max_tokens, 1);
  }
  // The engine's forward keeps everything its backward needs; with keep_for_backward the layer
  // is held until then.
  forward_ = pooled() ? run_pooled(keep_for_backward) : run();
}

bool LayerCall::pooled() const { return problem().world_size == 1 && backend_->name == "cpu"; }

Results LayerCall::run_pooled(bool keep) {
  EnginePool& pool = EnginePool::instance();
  EnginePool::Lease lease = pool.acquire(problem_);
  Results results;
  try {
    lease.layer->forward();
    if (lease.anchor->backward) lease.layer->backward();
    results = lease.layer->results();
  } catch (...) {
    move_inputs(*lease.anchor, problem_);  // the layer is dropped: its state is unknown
    throw;
  }
  if (keep) {
    kept_ = std::move(lease);
  } else {
    move_inputs(*lease.anchor, problem_);
    pool.release(std::move(lease));
  }
  return results;
}

// A lease still kept (the backward never came: inference with parameters that need gradients,
// or a graph dropped) goes back to the pool; its inputs are the call's and go with it.
LayerCall::~LayerCall() {
  if (!kept_) return;
  Problem discarded;
  move_inputs(*kept_->anchor, discarded);
  EnginePool::instance().release(std::move(*kept_));
}

void LayerCall::prepare(Config config, const LayerInputs& inputs, std::string_view backend,
                        WorldInfo world) {
  backend_ = &find_backend(backend);
  if (world.size > 1 && backend_->name != "cpu")
    throw ArgumentError(detail::concat("backend '", backend_->name,
                                       "' cannot run over MPI; only the 'cpu' engine does"));
  if (inputs.x.shape.size() != 2)
    throw ArgumentError(detail::concat("tensor x: expected 2 dimensions [S, ", config.hidden,
                                       "], got ", shape_to_string(inputs.x.shape)));
  const std::int64_t S = inputs.x.shape[0];
  // max_tokens sizes the backend's buffers; one call needs exactly its own token count (over
  // MPI the constructor raises it to the largest of any rank).
  config.max_tokens = std::max<std::int64_t>(S, 1);
  as_argument_error([&] { validate(config, world.size); });
  if (!backend_->runs(config))
    throw ArgumentError(detail::concat("dtype ", to_string(config.dtype),
                                       " is not supported by backend '", backend_->name,
                                       "' (use bf16, or backend='reference')"));

  const ElementType type = storage_type(config.dtype);
  const std::int64_t E = config.experts, H = config.hidden, P = config.ffn;
  const std::int64_t L = config.local_experts(world.size), R = config.w1_rows();
  if (inputs.b1.has_value() != config.bias || inputs.b2.has_value() != config.bias)
    throw ArgumentError(config.bias ? "bias = true needs both b1 and b2"
                                    : "b1/b2 given but bias = false; pass None for both");
  problem_.config = config;
  problem_.world_size = world.size;
  problem_.ranks.resize(static_cast<std::size_t>(world.size));
  RankInputs& own = problem_.ranks[static_cast<std::size_t>(rank_)];
  own.x = copy_in(inputs.x, "x", type, {S, H});
  problem_.wg = copy_in(inputs.wg, "wg", type, {E, H});
  own.w1 = copy_in(inputs.w1, "w1", type, {L, R, H});
  own.w2 = copy_in(inputs.w2, "w2", type, {L, H, P});
  if (config.bias) {
    own.b1 = copy_in(*inputs.b1, "b1", type, {L, R});
    own.b2 = copy_in(*inputs.b2, "b2", type, {L, H});
  }
  // Over MPI the other ranks' entries stay empty: the engine reads (and checks) only this rank's.
  as_argument_error([&] { validate_problem_rank(problem_, rank_); });
}

Results LayerCall::run() const {
#if FLASHMOE_PYTHON_HAVE_MPI
  if (problem_.world_size > 1) {
    // Workers: the engine's default, the node's cores shared among the processes on this node.
    return engine::run_mpi_rank(layer_comm(), problem_, engine::EngineOptions{});
  }
#endif
  return backend_->run(problem_, {});
}

void LayerCall::backward(const BufferRef& dout, double d_aux, double d_z) {
  Problem& inputs = problem();
  const std::int64_t S = tokens(), H = inputs.config.hidden;
  const ElementType type = storage_type(inputs.config.dtype);
  inputs.ranks[static_cast<std::size_t>(rank_)].dout = copy_in(dout, "dout", type, {S, H});
  inputs.backward = true;
  inputs.d_aux = d_aux;
  inputs.d_z = d_z;
  if (kept_) {
    // From the forward's state. The lease ends with this call: the inputs come back to problem_
    // and the layer goes back to the pool (or is dropped when the backward throws), so a second
    // backward (retain_graph) recomputes.
    EnginePool::Lease lease = std::move(*kept_);
    kept_.reset();
    try {
      lease.layer->backward();
      gradients_ = lease.layer->results();
    } catch (...) {
      move_inputs(*lease.anchor, problem_);
      throw;
    }
    move_inputs(*lease.anchor, problem_);
    EnginePool::instance().release(std::move(lease));
  } else {
    Results recomputed = pooled() ? run_pooled(false) : run();
    check_same_routing(recomputed);
    gradients_ = std::move(recomputed);
  }
  // The upstream gradient is not needed past this call; the inputs stay for a second backward
  // (retain_graph=True).
  for (RankInputs& in : problem_.ranks) in.dout = HostTensor();
  problem_.backward = false;
}

void LayerCall::check_same_routing(const Results& recomputed) const {
  const Routing& before = own(forward_).routing;
  const Routing& now = own(recomputed).routing;
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
  const RankOutputs& fwd = own(forward_);
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
  if ((name == "db1" || name == "db2") && !problem().config.bias)
    throw ArgumentError(detail::concat("result ", name, " does not exist: bias = false"));
  const RankOutputs& grad = own(*gradients_);
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
