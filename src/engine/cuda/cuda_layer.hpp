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

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flashmoe/problem.hpp"
#include "runtime/fault_injection.hpp"
#include "runtime/program.hpp"
#include "runtime/tile_shape.hpp"

namespace flashmoe::cuda {

// Task tiles for the GPU: 128 × 128 expert tiles, each walked as one row and two columns of
// the device's 128 × 64 block tiles (tile/tile_configs.hpp), small enough that a pass has
// many tasks for the blocks to share.
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
  // only this stream: once per forward()/backward() to read its results, and in synchronize()).
  // nullptr: a stream of the layer's own.
  void* stream = nullptr;
  runtime::FaultInjection faults;  // test only; the device honours drop_dispatch
};

// A caller's tensors in device memory, read in place by the passes that follow stage_device() (no
// copy): contiguous, row-major, in the layer's dtype, on the layer's device. They must stay
// allocated and unchanged until those passes have completed (the Python package saves them for
// autograd, whose version counters catch an in-place change).
struct DeviceRankInputs {
  std::int64_t tokens = 0;     // S_r ≤ max_tokens
  const void* x = nullptr;     // [S_r, H]
  const void* w1 = nullptr;    // [L, w1_rows, H]
  const void* b1 = nullptr;    // [L, w1_rows] when bias, else null
  const void* w2 = nullptr;    // [L, H, P]
  const void* b2 = nullptr;    // [L, H] when bias, else null
  const void* dout = nullptr;  // [S_r, H]; only a backward needs it
};
struct DeviceInputs {
  const void* wg = nullptr;  // [E, H]
  std::vector<DeviceRankInputs> ranks;  // one per rank of the layer's world
  double d_aux = 0.0, d_z = 0.0;
};

// One result of one rank as it lies in the layer's device memory after a pass: "out",
// "topk_index", "topk_weight", "kept", "aux_loss" and "z_loss" (fp64 scalars), "routed" and
// "accepted" (int64 [E]) (forward), "dx", "dwg", "dw1", "db1", "dw2", "db2" (backward), each of
// the staged token count. Its element type is the accumulation type for the
// floating results (SPEC §4: out and dx hold values rounded to the dtype).
struct DeviceResult {
  const void* data = nullptr;
  ElementType type = ElementType::f32;
  Shape shape;
  std::size_t bytes() const;
};

// Which results synchronize() copies to the host: every one, or only the routing counts and the
// losses (a caller that takes the tensors on the device, with copy_result()).
enum class ResultCopies : std::uint8_t { all, counts_and_losses };

// The handle of CUDA's legacy default stream (cudaStreamLegacy), the stream torch reports as 0:
// use_stream(nullptr) would mean the layer's own stream instead, which does not wait for it.
void* legacy_default_stream();

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
  // A layer of `config` for `world_size` ranks with no problem of its own: its passes read what
  // stage() or stage_device() gave them (forward() and backward() without inputs refuse).
  Layer(const Config& config, int world_size, CudaOptions options = {});
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

  // The same passes in their three steps, for a caller that captures them in a CUDA graph or
  // overlaps them with its own work on the stream:
  // - stage(): copies the inputs of the passes that follow (and dout where every rank has one)
  //   to the device; the caller may change its tensors once it returns. Not capturable: stage
  //   before a capture, and again whenever the inputs change — a graph's replays read what was
  //   staged last, with its token counts.
  // - enqueue_forward(), enqueue_backward(): put one pass on the layer's stream and return,
  //   without any host synchronisation, so that a stream capture records them (two kernel nodes
  //   each: one numbers the pass on the device, one runs it). A backward belongs to the latest
  //   forward before it on the stream.
  // - synchronize(): waits for the stream; throws the TimeoutError of the first pass that gave
  //   up waiting since the last synchronize() (the layer stays usable); then copies the outputs
  //   of the latest forward and the gradients of the latest backward into results() (timings
  //   are measured by forward()/backward() only).
  // A graph captured from a layer must be launched on the layer's stream (stream()), so that
  // synchronize() waits for its passes, and be waited for before the layer is destroyed; one
  // layer's passes never run concurrently.
  void stage(const Problem& inputs);
  void enqueue_forward();
  void enqueue_backward();
  void synchronize(ResultCopies copies = ResultCopies::all);
  void* stream() const;  // a cudaStream_t: CudaOptions::stream, or the layer's own

  // Device-resident passes (the Python package's CUDA tensors):
  // - stage_device(): like stage(), but the passes read the caller's device tensors in place;
  //   only the ranks' bindings (pointers, token counts, loss gradients) are written in, by a
  //   kernel on the stream that takes them as parameters: no host synchronisation, and a stream
  //   capture records them (its replays bind the captured pointers and token counts). Checks
  //   every pointer the configuration needs; a backward needs every rank's dout.
  // - use_stream(): the stream the passes that follow run on (a cudaStream_t, e.g. torch's
  //   current stream, so that a pass reads the caller's tensors after the caller's own kernels
  //   wrote them). The new stream waits (on the device) for the layer's last work on the
  //   previous one, which the caller may destroy afterwards. nullptr: the layer's own stream;
  //   legacy_default_stream(): CUDA's default stream.
  // - result(), copy_result(): one rank's result in the layer's device memory, and its copy
  //   into `destination` (device memory of result(...).bytes() bytes, same element type),
  //   enqueued on the layer's stream. Valid until the next pass.
  // - throw_if_failed(): for a caller that never synchronize()s (the Python package): throws
  //   the TimeoutError of a pass that gave up waiting since the last one was reported (or the
  //   Error of a broken invariant), without waiting for the stream — a pass still running is
  //   reported by a later call. A failure no call took is written to stderr when the layer is
  //   destroyed.
  void stage_device(const DeviceInputs& inputs);
  void throw_if_failed();
  void use_stream(void* stream);
  DeviceResult result(std::string_view name, int rank) const;
  void copy_result(std::string_view name, int rank, void* destination) const;

  // "NVIDIA H200 (sm_90, 132 SMs): 2 rank(s) × 132 blocks ..., 128 threads, 168 registers".
  std::string describe() const;

  struct Impl;

 private:
  const Problem& own_problem() const;  // the constructor's problem, or an error saying there is none
  std::unique_ptr<Impl> impl_;
};

// Forward (and backward when problem.backward) of every rank on the GPU.
Results run_on_gpu(const Problem& problem, const CudaOptions& options = {});

}  // namespace flashmoe::cuda
