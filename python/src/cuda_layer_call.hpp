// CudaLayerCall: one forward of an MoE layer on CUDA tensors and, later, its backward — what the
// Python autograd Function keeps between the two when the tensors are on a GPU.
//
// The tensors are read in place and nothing is copied to or from the host: the losses and the
// routing counts are results on the device like the others. Every pass runs on the stream the
// caller names (torch's current stream, as an integer handle: the extension stays torch-free),
// after the work the caller enqueued there, and the results are copied out on that stream too;
// no call waits for the GPU (but a second backward, below), so the host runs ahead as it does
// for torch's own kernels. A pass that gave up waiting raises TimeoutError from the next call on
// its layer — the backward of that forward, or a later forward leased the same pooled layer —
// and a failure no call took is written to stderr when the layer is destroyed. The call leases a
// cuda::Layer of its configuration on the tensors' device from a pool and holds it until it is
// destroyed, so the backward runs from the forward's state in the layer's workspace; the Python
// layer saves the input tensors for the backward, which keeps them alive and lets torch's version
// counters catch an in-place change. A second backward (retain_graph=True) runs the forward again
// first (the engine is deterministic, SPEC §5; the recomputed routing counts are checked against
// the first).
//
// Built without the CUDA engine, the constructor raises NotImplementedError saying so.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "buffer_ref.hpp"
#include "flashmoe/config.hpp"
#include "layer_call.hpp"

namespace flashmoe::python {

class CudaLayerCall {
 public:
  // Checks the inputs (one CUDA device for all, the layer's dtype, shapes, row-major), then runs
  // the forward on `stream` (a cudaStream_t as an integer, as torch's Stream.cuda_stream gives
  // it: 0 is CUDA's legacy default stream).
  CudaLayerCall(Config config, const LayerInputs& inputs, std::uintptr_t stream);
  ~CudaLayerCall();
  CudaLayerCall(const CudaLayerCall&) = delete;
  CudaLayerCall& operator=(const CudaLayerCall&) = delete;

  // The gradients for the upstream dout [S, H] (on the inputs' device) and the upstream
  // gradients of the two losses; `inputs` are the forward's tensors again (the saved ones).
  void backward(const LayerInputs& inputs, const BufferRef& dout, double d_aux, double d_z,
                std::uintptr_t stream);

  // Result `name` (out, topk_index, topk_weight, kept, aux_loss, z_loss, routed, accepted;
  // after backward dx, dwg, dw1, db1, dw2, db2) as the layer holds it: its dtype name (float32
  // for the floating results of every layer but fp64's, SPEC §4; float64 for the losses, int64
  // for the counts) and shape, and its copy into `destination` (a CUDA tensor of exactly that
  // dtype and shape on the inputs' device), enqueued on the stream of the latest pass.
  std::string result_dtype(std::string_view name) const;
  Shape result_shape(std::string_view name) const;
  void copy_out(std::string_view name, const BufferRef& destination) const;

  const Config& config() const { return config_; }
  int device() const { return device_; }
  std::int64_t tokens() const { return tokens_; }
  bool has_gradients() const { return backwards_ > 0; }

  struct Lease;

 private:
  void check_inputs(const LayerInputs& inputs) const;
  // The layer's name for a result, after checking that it exists now (gradients after backward).
  std::string_view checked_result(std::string_view name) const;

  Config config_;
  int device_ = -1;
  std::int64_t tokens_ = 0;
  std::unique_ptr<Lease> lease_;
  int backwards_ = 0;
};

}  // namespace flashmoe::python
