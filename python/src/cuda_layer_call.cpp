#include "cuda_layer_call.hpp"

#include <algorithm>
#include <cstddef>
#include <list>
#include <mutex>
#include <utility>

#include "errors.hpp"

#if FLASHMOE_HAVE_CUDA_ENGINE
#include "engine/cuda/cuda_layer.hpp"
#endif

namespace flashmoe::python {

#if FLASHMOE_HAVE_CUDA_ENGINE

namespace {

const void* address_of(const BufferRef& buffer) {
  return reinterpret_cast<const void*>(buffer.address);
}

// GPU layers kept between calls: building one allocates and clears its device workspace, and a
// training or serving loop calls the same layer shape again and again. Bounded (at most
// kIdleLayers idle, the least recently returned dropped first) and thread-safe; never destroyed
// (its layers would free device memory while the CUDA runtime shuts down at process exit).
class CudaLayerPool {
 public:
  static constexpr std::size_t kIdleLayers = 2;

  static CudaLayerPool& instance() {
    static auto* pool = new CudaLayerPool();
    return *pool;
  }

  // An idle layer of this configuration on this device, or a new one.
  std::unique_ptr<cuda::Layer> acquire(const Config& config, int device) {
    {
      const std::lock_guard lock(mutex_);
      for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        if (it->config == config && it->device == device) {
          std::unique_ptr<cuda::Layer> layer = std::move(it->layer);
          idle_.erase(it);
          return layer;
        }
      }
    }
    cuda::CudaOptions options;
    options.device = device;
    return std::make_unique<cuda::Layer>(config, 1, options);
  }

  void release(const Config& config, int device, std::unique_ptr<cuda::Layer> layer) {
    Entry dropped;  // freed outside the lock
    const std::lock_guard lock(mutex_);
    idle_.push_front(Entry{config, device, std::move(layer)});
    if (idle_.size() > kIdleLayers) {
      dropped = std::move(idle_.back());
      idle_.pop_back();
    }
  }

 private:
  struct Entry {
    Config config;
    int device = -1;
    std::unique_ptr<cuda::Layer> layer;
  };
  std::mutex mutex_;
  std::list<Entry> idle_;  // most recently returned first
};

cuda::DeviceInputs device_inputs(const LayerInputs& in, std::int64_t tokens,
                                 const BufferRef* dout, double d_aux, double d_z) {
  cuda::DeviceInputs d;
  d.wg = address_of(in.wg);
  d.d_aux = d_aux;
  d.d_z = d_z;
  cuda::DeviceRankInputs& r = d.ranks.emplace_back();
  r.tokens = tokens;
  r.x = address_of(in.x);
  r.w1 = address_of(in.w1);
  r.w2 = address_of(in.w2);
  r.b1 = in.b1 ? address_of(*in.b1) : nullptr;
  r.b2 = in.b2 ? address_of(*in.b2) : nullptr;
  r.dout = dout != nullptr ? address_of(*dout) : nullptr;
  return d;
}

// torch's handle of a stream: 0 is CUDA's legacy default stream, which a layer's own
// (non-blocking) stream would not wait for.
void* stream_of(std::uintptr_t stream) {
  return stream == 0 ? cuda::legacy_default_stream() : reinterpret_cast<void*>(stream);
}

}  // namespace

// The leased layer; it goes back to the pool with the call, unless a pass on it failed (its
// workspace's state is then unknown, and it is dropped).
struct CudaLayerCall::Lease {
  Config config;
  int device = -1;
  std::unique_ptr<cuda::Layer> layer;

  ~Lease() {
    if (layer) CudaLayerPool::instance().release(config, device, std::move(layer));
  }
  cuda::Layer& get() const {
    if (!layer)
      throw Error("this layer call's GPU layer was dropped after a failed pass; call the layer "
                  "again (a new forward)");
    return *layer;
  }
  // Runs f on the layer; when it throws, the layer is dropped and the error goes on.
  template <typename F>
  void run(F&& f) {
    cuda::Layer& l = get();
    try {
      f(l);
    } catch (...) {
      layer.reset();
      throw;
    }
  }
};

#else

struct CudaLayerCall::Lease {};

namespace {

[[noreturn]] void no_cuda_engine() {
  throw NotBuiltError(
      "tensors on a CUDA device need the cuda backend, and this build of flashmoe has no CUDA "
      "engine (it was configured without the CUDA toolkit or the CUTLASS headers, which "
      "scripts/setup.sh installs where nvcc is); move the tensors with .cpu()");
}

}  // namespace

#endif

CudaLayerCall::CudaLayerCall(Config config, const LayerInputs& inputs, std::uintptr_t stream) {
  if (inputs.x.shape.size() != 2)
    throw ArgumentError(detail::concat("tensor x: expected 2 dimensions [S, ", config.hidden,
                                       "], got ", shape_to_string(inputs.x.shape)));
  tokens_ = inputs.x.shape[0];
  config.max_tokens = std::max<std::int64_t>(tokens_, 1);
  as_argument_error([&] { validate(config, 1); });
  config_ = config;
  device_ = cuda_device_of(inputs.x, "x");
  if (device_ < 0)
    throw ArgumentError("tensor x is on the CPU: CudaLayerCall takes CUDA tensors (LayerCall "
                        "takes CPU ones)");
  check_inputs(inputs);
#if FLASHMOE_HAVE_CUDA_ENGINE
  lease_ = std::make_unique<Lease>();
  lease_->config = config_;
  lease_->device = device_;
  lease_->layer = CudaLayerPool::instance().acquire(config_, device_);
  lease_->run([&](cuda::Layer& layer) {
    layer.throw_if_failed();  // a pooled layer's earlier pass
    layer.use_stream(stream_of(stream));
    layer.stage_device(device_inputs(inputs, tokens_, nullptr, 0.0, 0.0));
    layer.enqueue_forward();
  });
#else
  (void)stream;
  no_cuda_engine();
#endif
}

CudaLayerCall::~CudaLayerCall() = default;

void CudaLayerCall::check_inputs(const LayerInputs& inputs) const {
  const ElementType type = storage_type(config_.dtype);
  const std::int64_t S = tokens_, E = config_.experts, H = config_.hidden, P = config_.ffn;
  const std::int64_t L = config_.local_experts(1), R = config_.w1_rows();
  if (inputs.b1.has_value() != config_.bias || inputs.b2.has_value() != config_.bias)
    throw ArgumentError(config_.bias ? "bias = true needs both b1 and b2"
                                     : "b1/b2 given but bias = false; pass None for both");
  const auto check = [&](const BufferRef& buffer, std::string_view what, const Shape& shape) {
    const int device = cuda_device_of(buffer, what);
    if (device != device_)
      throw ArgumentError(detail::concat("tensor ", what, " is on ", buffer.device, " but x is on ",
                                         inputs.x.device,
                                         ": every tensor of a call must be on the same device"));
    check_in_place(buffer, what, type, shape);
  };
  check(inputs.x, "x", {S, H});
  check(inputs.wg, "wg", {E, H});
  check(inputs.w1, "w1", {L, R, H});
  check(inputs.w2, "w2", {L, H, P});
  if (config_.bias) {
    check(*inputs.b1, "b1", {L, R});
    check(*inputs.b2, "b2", {L, H});
  }
}

void CudaLayerCall::backward(const LayerInputs& inputs, const BufferRef& dout, double d_aux,
                             double d_z, std::uintptr_t stream) {
  check_inputs(inputs);
  if (cuda_device_of(dout, "dout") != device_)
    throw ArgumentError(detail::concat("tensor dout is on ", dout.device, " but x is on ",
                                       inputs.x.device,
                                       ": every tensor of a call must be on the same device"));
  check_in_place(dout, "dout", storage_type(config_.dtype), {tokens_, config_.hidden});
#if FLASHMOE_HAVE_CUDA_ENGINE
  lease_->run([&](cuda::Layer& layer) {
    layer.throw_if_failed();  // the forward's, or the first backward's
    layer.use_stream(stream_of(stream));
    if (backwards_ > 0) {
      // A second backward (retain_graph=True): the forward's state again, then the backward.
      // The one path that waits for the GPU, to compare the recomputed routing counts with the
      // forward's (still in the layer: nothing but this call's passes ran on it since).
      layer.synchronize(cuda::ResultCopies::counts_and_losses);
      const Routing first = layer.results().ranks.at(0).routing;
      layer.stage_device(device_inputs(inputs, tokens_, nullptr, 0.0, 0.0));
      layer.enqueue_forward();
      layer.synchronize(cuda::ResultCopies::counts_and_losses);
      const Routing& again = layer.results().ranks.at(0).routing;
      if (again.routed != first.routed || again.accepted != first.accepted)
        throw Error("backend 'cuda': the routing recomputed for a second backward differs from "
                    "the forward's on the same inputs; this breaks SPEC §5 (determinism), please "
                    "report it");
    }
    layer.stage_device(device_inputs(inputs, tokens_, &dout, d_aux, d_z));
    layer.enqueue_backward();
  });
  backwards_ += 1;
#else
  (void)d_aux;
  (void)d_z;
  (void)stream;
  no_cuda_engine();
#endif
}

std::string_view CudaLayerCall::checked_result(std::string_view name) const {
  const bool forward = name == "out" || name == "topk_index" || name == "topk_weight" ||
                       name == "kept" || name == "aux_loss" || name == "z_loss" ||
                       name == "routed" || name == "accepted";
  const bool gradient = name == "dx" || name == "dwg" || name == "dw1" || name == "db1" ||
                        name == "dw2" || name == "db2";
  if (!forward && !gradient)
    throw ArgumentError(detail::concat("unknown result '", name,
                                       "'; allowed: out, topk_index, topk_weight, kept, "
                                       "aux_loss, z_loss, routed, accepted, dx, dwg, dw1, db1, "
                                       "dw2, db2"));
  if (gradient && backwards_ == 0)
    throw ArgumentError(detail::concat("result ", name, ": call backward() first"));
  if ((name == "db1" || name == "db2") && !config_.bias)
    throw ArgumentError(detail::concat("result ", name, " does not exist: bias = false"));
  return name;
}

#if FLASHMOE_HAVE_CUDA_ENGINE

std::string CudaLayerCall::result_dtype(std::string_view name) const {
  return std::string(to_string(lease_->get().result(checked_result(name), 0).type));
}

Shape CudaLayerCall::result_shape(std::string_view name) const {
  return lease_->get().result(checked_result(name), 0).shape;
}

void CudaLayerCall::copy_out(std::string_view name, const BufferRef& destination) const {
  const cuda::DeviceResult result = lease_->get().result(checked_result(name), 0);
  if (cuda_device_of(destination, name) != device_)
    throw ArgumentError(detail::concat("output ", name, " is on ", destination.device,
                                       "; the layer's results are on cuda:", device_));
  check_in_place(destination, name, result.type, result.shape);
  lease_->get().copy_result(name, 0, reinterpret_cast<void*>(destination.address));
}

#else

std::string CudaLayerCall::result_dtype(std::string_view) const {
  no_cuda_engine();
}
Shape CudaLayerCall::result_shape(std::string_view) const {
  no_cuda_engine();
}
void CudaLayerCall::copy_out(std::string_view, const BufferRef&) const {
  no_cuda_engine();
}

#endif

}  // namespace flashmoe::python
