// The fused engine on one GPU (the `cuda` backend of `flashmoe run`, `flashmoe bench` and the
// Python package): every rank of the world is a partition of the GPU's blocks with its own
// symmetric buffer, and ONE cooperative launch of the persistent kernel runs one pass of every
// rank — gate, dispatch, expert tiles and combine, or the backward in reverse — with the same
// program the CPU engine runs (src/runtime). This header needs no CUDA header: the stream is an
// opaque handle (a cudaStream_t), so front ends that never include CUDA can hold a layer.
//
// What has run on a GPU and what has not is stated in README.md ("GPU status"); the tests in
// tests/cuda skip, saying why, where no GPU is present.
#pragma once

#include <memory>
#include <string>

#include "flashmoe/problem.hpp"
#include "runtime/fault_injection.hpp"
#include "runtime/program.hpp"
#include "runtime/tile_shape.hpp"

namespace flashmoe::cuda {

// Task tiles for the GPU: 128-wide expert tiles, one device block tile (tile/tile_configs.hpp)
// per task in each dimension, so a pass has many tasks for the blocks to share.
runtime::TileShape default_gpu_tiles();

struct CudaOptions {
  int device = 0;  // CUDA device ordinal
  // Processor groups (blocks) per rank; 0: as many as can be co-resident on the device after
  // the reserved multiprocessors, shared equally by the ranks.
  int processor_groups = 0;
  // Multiprocessors left free for other work on other streams (a model's own kernels, a
  // communication library); the persistent grid never occupies them.
  int reserved_multiprocessors = 0;
  runtime::Scheduling scheduling = runtime::Scheduling::shared;
  int subscribers = 1;  // subscriber partitions per rank
  runtime::TileShape tiles = default_gpu_tiles();
  // The stream every pass runs on (a cudaStream_t; the layer never synchronises the device,
  // only this stream, once per pass to read its results). nullptr: a stream of the layer's own.
  void* stream = nullptr;
  runtime::FaultInjection faults;  // test only; the device honours drop_dispatch
};

// Empty when device `device` can run the cuda backend; otherwise why not, in words a user can
// act on ("no CUDA driver is loaded on this machine (cudaGetDeviceCount: ...)", "device 0 is
// compute capability 7.5; the cuda backend needs 8.0 or newer").
std::string unavailable_reason(int device = 0);

// One MoE layer on the GPU: its workspace (one device allocation sized by the WorkspaceLayout
// of every rank), the inputs and outputs on the device, the launch plan. Result conventions as
// engine::Layer's (SPEC §4): out and dx rounded to the dtype, returned in the accumulation type.
// fp64, fp32 (optionally on tf32 tensor cores), bf16 and fp16 layers.
class Layer {
 public:
  // Throws flashmoe::Error when no usable GPU is present (unavailable_reason), when the
  // problem is invalid, or when the requested grid cannot be co-resident.
  explicit Layer(const Problem& problem, CudaOptions options = {});
  ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;
  Layer(Layer&&) noexcept;
  Layer& operator=(Layer&&) noexcept;

  // One pass of every rank, reading `inputs` (this layer's configuration and world; its x,
  // dout, token counts and weights may change between passes); returns when its results are in
  // results(). A backward belongs to the latest forward. A pass whose wait expired throws
  // TimeoutError (the same message as the CPU engine's) and the layer stays usable.
  void forward(const Problem& inputs);
  void backward(const Problem& inputs);
  void forward();   // on the problem the layer was made with
  void backward();  // likewise
  const Results& results() const;

  // "NVIDIA H200 (sm_90, 132 SMs): 2 rank(s) × 132 blocks ..., 128 threads, 168 registers".
  std::string describe() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Forward (and backward when problem.backward) of every rank on the GPU.
Results run_on_gpu(const Problem& problem, const CudaOptions& options = {});

}  // namespace flashmoe::cuda
