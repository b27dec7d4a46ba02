// cuda::Layer: the host side of the GPU engine. It checks the device, plans the persistent grid
// (grid_plan.hpp) from the kernel's measured occupancy, lays out one device allocation for every
// rank's symmetric and private areas, its groups' scratch and the program's fixed state, and
// runs each pass as one cooperative launch on the layer's stream. A pass has three steps, which
// forward()/backward() run in a row and a caller capturing a CUDA graph runs apart: inputs staged
// (copied in, the bindings written by a small kernel), the pass enqueued (no host
// synchronisation: capturable), and its completion (one stream synchronisation, the failure
// record read, outputs copied out). Host code only; the kernels are instantiated in kernels.cu.
#include "engine/cuda/cuda_layer.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>
#include <utility>
#include <vector>

#include "engine/cuda/grid_plan.hpp"
#include "engine/cuda/kernels.hpp"
#include "engine/cuda/pass_clock.hpp"
#include "flashmoe/error.hpp"
#include "platform/cuda/cuda_check.hpp"
#include "platform/cuda/device_memory.hpp"
#include "portable/atomics.hpp"
#include "runtime/layer_setup.hpp"

namespace flashmoe::cuda {

runtime::TileShape default_gpu_tiles() {
  runtime::TileShape t;
  t.token_rows = 64;
  t.expert_rows = 128;
  t.ffn_columns = 128;
  t.hidden_columns = 128;
  t.weight_rows = 128;
  return t;
}

void* legacy_default_stream() {
  return cudaStreamLegacy;
}

std::string unavailable_reason(int device) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear it: the caller may go on without a GPU
    return detail::concat("no usable CUDA driver or GPU on this machine (cudaGetDeviceCount: ",
                          cudaGetErrorName(status), ": ", cudaGetErrorString(status), ")");
  }
  if (count == 0) return "no CUDA GPU is present on this machine";
  if (device < 0 || device >= count)
    return detail::concat("CUDA device ", device, " does not exist (", count,
                          " device(s): 0..", count - 1, ")");
  cudaDeviceProp p{};
  if (const cudaError_t s = cudaGetDeviceProperties(&p, device); s != cudaSuccess)
    return detail::concat("CUDA device ", device, " cannot be queried (", cudaGetErrorName(s),
                          ": ", cudaGetErrorString(s), ")");
  if (const cudaError_t s = cudaSetDevice(device); s != cudaSuccess)
    return detail::concat("CUDA device ", device, " (", p.name, ") cannot be used (",
                          cudaGetErrorName(s), ": ", cudaGetErrorString(s), ")");
  if (const cudaError_t s = kernel_image_status(); s != cudaSuccess)
    return detail::concat("CUDA device ", device, " (", p.name, ") is compute capability ",
                          p.major, ".", p.minor, " and this build holds machine code for ",
                          built_architectures(), " only (no PTX is embedded, nothing is JIT-"
                          "compiled): ", cudaGetErrorName(s), ": ", cudaGetErrorString(s));
  if (p.cooperativeLaunch == 0)
    return detail::concat("CUDA device ", device, " (", p.name,
                          ") does not support cooperative launches, which the persistent kernel "
                          "needs to have every block co-resident");
  return {};
}

namespace {

// Host memory the device reads and writes directly (the failure record).
template <typename U>
class MappedHost {
 public:
  MappedHost() {
    FLASHMOE_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host_), sizeof(U),
                                      cudaHostAllocMapped));
    new (host_) U{};
    FLASHMOE_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&device_), host_, 0));
  }
  ~MappedHost() { (void)cudaFreeHost(host_); }
  MappedHost(const MappedHost&) = delete;
  MappedHost& operator=(const MappedHost&) = delete;
  U& host() const { return *host_; }
  U* device() const { return device_; }

 private:
  U* host_ = nullptr;
  U* device_ = nullptr;
};

// Offsets of consecutive, 256-byte aligned pieces of one allocation.
class Arena {
 public:
  std::size_t add(std::size_t bytes) {
    const std::size_t at = (bytes_ + 255) / 256 * 256;
    bytes_ = at + bytes;
    return at;
  }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_ = 0;
};

std::size_t bytes_of(const Shape& shape, std::size_t element) {
  std::size_t n = element;
  for (const std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

}  // namespace

struct Layer::Impl {
  virtual ~Impl() = default;
  virtual void run(runtime::PassKind kind, const Problem& inputs) = 0;
  virtual void stage(const Problem& inputs) = 0;
  virtual void enqueue(runtime::PassKind kind) = 0;
  virtual void synchronize(ResultCopies copies) = 0;
  virtual void* stream() const = 0;
  virtual void stage_device(const DeviceInputs& inputs) = 0;
  virtual void use_stream(void* stream) = 0;
  virtual DeviceResult result(std::string_view name, int rank) const = 0;
  virtual void copy_result(std::string_view name, int rank, void* destination) const = 0;
  virtual void throw_if_failed() = 0;
  virtual const Results& results() const = 0;
  virtual std::string describe() const = 0;
  const Problem* problem = nullptr;
};

namespace {

template <typename T>
class LayerImpl final : public Layer::Impl {
  using Acc = runtime::accumulate_t<T>;
  using State = runtime::RankState<T, Transport>;

  // Where one rank's tensors live in io_ (offsets).
  struct RankIo {
    std::size_t x, w1, b1, w2, b2, dout;
    std::size_t out, dx, dwg, dw1, db1, dw2, db2;
    std::size_t topk_index, topk_weight, kept, routed, accepted, losses;
  };

 public:
  LayerImpl(const Config& config, int world, const CudaOptions& options)
      : config_(config), world_(world), options_(options) {
    FLASHMOE_CUDA_CHECK(cudaSetDevice(options_.device));
    FLASHMOE_CUDA_CHECK(cudaGetDeviceProperties(&device_, options_.device));
    stream_ = options_.stream != nullptr ? static_cast<cudaStream_t>(options_.stream) : own_stream();
    FLASHMOE_CUDA_CHECK(cudaEventCreate(&begin_));
    FLASHMOE_CUDA_CHECK(cudaEventCreate(&end_));
    FLASHMOE_CUDA_CHECK(cudaEventCreateWithFlags(&last_work_, cudaEventDisableTiming));

    resources_ = kernel_resources<T>();
    GridRequest request;
    request.multiprocessors = device_.multiProcessorCount;
    request.blocks_per_multiprocessor = resources_.blocks_per_sm;
    request.reserved_multiprocessors = options_.reserved_multiprocessors;
    request.world_size = world_;
    request.processor_groups = options_.processor_groups;
    request.dedicated_roles = options_.scheduling == runtime::Scheduling::dedicated;
    request.subscribers = options_.subscribers;
    plan_ = plan_grid(request);

    layout_ = runtime::WorkspaceLayout::compute(
        runtime::layer_shape(config_, world_, sizeof(T), sizeof(Acc), plan_.processor_groups,
                             kBlockThreads, options_.subscribers),
        options_.tiles);
    settings_.scheduling = options_.scheduling;
    settings_.timeout_ns = static_cast<std::int64_t>(config_.wait_timeout_s * 1e9);
    allocate_workspace();
    allocate_io();
  }

  ~LayerImpl() override {
    // Not the stream itself: a caller's stream may be gone by now (last_work_ outlives it).
    (void)cudaEventSynchronize(last_work_);
    // A destructor cannot throw, and a failure nobody took must not pass unnoticed.
    if (const std::optional<FailureRecord> failed = take_failure())
      std::fprintf(stderr,
                   "flashmoe: a cuda layer is destroyed with a failure no call reported: %s\n",
                   timeout_message(*failed).c_str());
    (void)cudaEventDestroy(last_work_);
    (void)cudaEventDestroy(begin_);
    (void)cudaEventDestroy(end_);
    if (own_stream_ != nullptr) (void)cudaStreamDestroy(own_stream_);
  }

  const Results& results() const override { return results_; }

  std::string describe() const override {
    return detail::concat(device_.name, " (sm_", device_.major, device_.minor, ", ",
                          device_.multiProcessorCount, " SMs): ", plan_.describe(), "; ",
                          kBlockThreads, " threads per block, ", resources_.registers,
                          " registers per thread, ", resources_.local_bytes,
                          " bytes of local memory per thread, ", resources_.blocks_per_sm,
                          " blocks per SM");
  }

  void run(runtime::PassKind kind, const Problem& inputs) override {
    const bool forward = kind == runtime::PassKind::forward;
    check_inputs(inputs, forward);
    stage_inputs(inputs, /*with_dout=*/!forward);
    FLASHMOE_CUDA_CHECK(cudaEventRecord(begin_, stream_));
    enqueue(kind);
    FLASHMOE_CUDA_CHECK(cudaEventRecord(end_, stream_));
    complete(forward, !forward);
    float milliseconds = 0.0f;
    FLASHMOE_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, begin_, end_));
    results_.seconds[forward ? "forward" : "backward"] = milliseconds * 1e-3;
  }

  void stage(const Problem& inputs) override {
    check_inputs(inputs, /*forward=*/true);
    stage_inputs(inputs, /*with_dout=*/true);
  }

  void enqueue(runtime::PassKind kind) override {
    const bool forward = kind == runtime::PassKind::forward;
    FLASHMOE_CHECK(staged_, "cuda engine: no inputs staged for the ", forward ? "forward" : "backward",
                   " (call stage() first)");
    FLASHMOE_CHECK(forward || forwards_ > 0,
                   "cuda engine: a backward needs a forward before it (none ran yet)");
    FLASHMOE_CHECK(forward || dout_staged_,
                   "cuda engine: the backward's dout is not staged (a rank's dout is undefined)");
    FLASHMOE_CUDA_CHECK(cudaSetDevice(options_.device));
    WorldLaunch<T> launch;
    launch.fixed = reinterpret_cast<const State*>(workspace_.at(fixed_at_));
    launch.bindings = reinterpret_cast<const runtime::PassBinding<T>*>(workspace_.at(bindings_at_));
    launch.clock = reinterpret_cast<PassClock*>(workspace_.at(clock_at_));
    launch.settings = settings_;
    launch.blocks_per_rank = plan_.blocks_per_rank;
    launch.scratch = workspace_.at(scratch_at_);
    launch.failure = failure_.device();
    const cudaError_t launched = launch_pass(launch, kind, plan_.grid_blocks, stream_);
    FLASHMOE_CHECK(launched == cudaSuccess, "cuda engine: the persistent kernel's launch (",
                   plan_.describe(), ") failed: ", cudaGetErrorName(launched), ": ",
                   cudaGetErrorString(launched));
    mark_work_unless_capturing();
    (forward ? forwards_ : backwards_) += 1;
  }

  void synchronize(ResultCopies copies) override {
    if (copies == ResultCopies::all) {
      complete(forwards_ > 0, backwards_ > 0);
    } else {
      complete(false, false);
      if (forwards_ > 0) download_counts_and_losses();
    }
  }

  void* stream() const override { return stream_; }

  void stage_device(const DeviceInputs& inputs) override {
    FLASHMOE_CHECK(inputs.ranks.size() == static_cast<std::size_t>(world_), "cuda engine: ",
                   inputs.ranks.size(), " ranks' device inputs for a layer of ", world_);
    FLASHMOE_CHECK(inputs.wg != nullptr, "cuda engine: the device inputs have no wg");
    std::vector<runtime::PassBinding<T>> bindings(static_cast<std::size_t>(world_));
    std::vector<std::int64_t> tokens(static_cast<std::size_t>(world_));
    bool dout = true;
    for (int r = 0; r < world_; ++r) {
      const DeviceRankInputs& in = inputs.ranks[static_cast<std::size_t>(r)];
      FLASHMOE_CHECK(in.tokens >= 0 && in.tokens <= config_.max_tokens, "cuda engine: rank ", r,
                     " has ", in.tokens, " tokens; allowed 0..", config_.max_tokens,
                     " (max_tokens)");
      FLASHMOE_CHECK(in.w1 != nullptr && in.w2 != nullptr && (in.x != nullptr || in.tokens == 0),
                     "cuda engine: rank ", r, "'s device inputs lack x, w1 or w2");
      FLASHMOE_CHECK((in.b1 != nullptr) == config_.bias && (in.b2 != nullptr) == config_.bias,
                     "cuda engine: rank ", r, "'s b1 and b2 must ",
                     config_.bias ? "both be given (bias = true)" : "be null (bias = false)");
      runtime::PassBinding<T>& b = bindings[static_cast<std::size_t>(r)];
      b = output_binding(r);
      b.tokens = in.tokens;
      b.x = static_cast<const T*>(in.x);
      b.wg = static_cast<const T*>(inputs.wg);
      b.w1 = static_cast<const T*>(in.w1);
      b.w2 = static_cast<const T*>(in.w2);
      b.b1 = static_cast<const T*>(in.b1);
      b.b2 = static_cast<const T*>(in.b2);
      b.dout = static_cast<const T*>(in.dout);
      b.d_aux = inputs.d_aux;
      b.d_z = inputs.d_z;
      tokens[static_cast<std::size_t>(r)] = in.tokens;
      dout = dout && (in.dout != nullptr || in.tokens == 0);
    }
    upload_bindings(bindings, std::move(tokens), dout);
  }

  void use_stream(void* stream) override {
    const cudaStream_t next = stream != nullptr ? static_cast<cudaStream_t>(stream) : own_stream();
    if (next == stream_) return;
    // The layer's work on the previous stream (passes, result copies) ends before any on the
    // next one begins — one layer's passes share its workspace and never overlap — without the
    // host waiting, and with no use of the previous stream, which the caller may have destroyed.
    FLASHMOE_CUDA_CHECK(cudaSetDevice(options_.device));
    FLASHMOE_CUDA_CHECK(cudaStreamWaitEvent(next, last_work_, 0));
    stream_ = next;
  }

  DeviceResult result(std::string_view name, int rank) const override {
    FLASHMOE_CHECK(rank >= 0 && rank < world_, "cuda engine: rank ", rank, " of a layer of ",
                   world_);
    FLASHMOE_CHECK(staged_, "cuda engine: no pass has run, so there is no result ", name);
    const Config& c = config_;
    const RankIo& io = rank_io_[static_cast<std::size_t>(rank)];
    const std::int64_t S = staged_tokens_[static_cast<std::size_t>(rank)];
    const std::int64_t H = c.hidden, E = c.experts, k = c.top_k, P = c.ffn;
    const std::int64_t R = c.w1_rows(), L = c.local_experts(world_);
    const ElementType acc = element_type_of<Acc>();
    const auto view = [&](std::size_t at, ElementType type, Shape shape) {
      return DeviceResult{io_.at(at), type, std::move(shape)};
    };
    if (name == "out") return view(io.out, acc, {S, H});
    if (name == "topk_index") return view(io.topk_index, ElementType::i32, {S, k});
    if (name == "topk_weight") return view(io.topk_weight, acc, {S, k});
    if (name == "kept") return view(io.kept, ElementType::u8, {S, k});
    if (name == "aux_loss") return view(io.losses, ElementType::f64, {});
    if (name == "z_loss") return view(io.losses + sizeof(double), ElementType::f64, {});
    if (name == "routed") return view(io.routed, ElementType::i64, {E});
    if (name == "accepted") return view(io.accepted, ElementType::i64, {E});
    if (name == "dx") return view(io.dx, acc, {S, H});
    if (name == "dwg") return view(io.dwg, acc, {E, H});
    if (name == "dw1") return view(io.dw1, acc, {L, R, H});
    if (name == "dw2") return view(io.dw2, acc, {L, H, P});
    if (c.bias && name == "db1") return view(io.db1, acc, {L, R});
    if (c.bias && name == "db2") return view(io.db2, acc, {L, H});
    FLASHMOE_FAIL("cuda engine: no result '", name, "'", c.bias ? "" : " (bias = false)",
                  "; allowed: out, topk_index, topk_weight, kept, aux_loss, z_loss, routed, "
                  "accepted, dx, dwg, dw1, dw2",
                  c.bias ? ", db1, db2" : "");
  }

  void copy_result(std::string_view name, int rank, void* destination) const override {
    const DeviceResult r = result(name, rank);
    if (r.bytes() == 0) return;
    FLASHMOE_CHECK(destination != nullptr, "cuda engine: no destination for result ", name);
    FLASHMOE_CUDA_CHECK(cudaSetDevice(options_.device));
    FLASHMOE_CUDA_CHECK(
        cudaMemcpyAsync(destination, r.data, r.bytes(), cudaMemcpyDeviceToDevice, stream_));
    mark_work();
  }

  // Marks the end of the layer's latest work on its stream, for use_stream() and the destructor.
  void mark_work() const { FLASHMOE_CUDA_CHECK(cudaEventRecord(last_work_, stream_)); }
  // The same, except while the stream is being captured: what is enqueued then is a graph's, not
  // work on the stream (the graph's replays are the caller's to wait for).
  void mark_work_unless_capturing() const {
    if (!capturing()) mark_work();
  }
  bool capturing() const {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    FLASHMOE_CUDA_CHECK(cudaStreamIsCapturing(stream_, &capture));
    return capture != cudaStreamCaptureStatusNone;
  }

 private:
  // Copies the inputs of the passes that follow to the device: the tensors (dout too when
  // with_dout) and every rank's binding (token count, loss gradients, where each tensor is).
  // Host to device from pageable memory: the copies have left the host buffers when this returns,
  // so the caller may change them; not capturable in a CUDA graph.
  void stage_inputs(const Problem& inputs, bool with_dout) {
    FLASHMOE_CUDA_CHECK(cudaSetDevice(options_.device));
    upload_inputs(inputs, with_dout);
    std::vector<runtime::PassBinding<T>> bindings(static_cast<std::size_t>(world_));
    std::vector<std::int64_t> tokens(static_cast<std::size_t>(world_));
    bool dout = with_dout;
    for (int r = 0; r < world_; ++r) {
      bindings[static_cast<std::size_t>(r)] = bind(inputs, r);
      tokens[static_cast<std::size_t>(r)] = inputs.tokens(r);
      dout = dout && inputs.ranks[static_cast<std::size_t>(r)].dout.defined();
    }
    upload_bindings(bindings, std::move(tokens), dout);
  }

  // The ranks' bindings of the passes that follow, and what the host keeps of them. Written on
  // the stream by a kernel that takes them as parameters: no host synchronisation, and a stream
  // capture records them (kernels.hpp).
  void upload_bindings(const std::vector<runtime::PassBinding<T>>& bindings,
                       std::vector<std::int64_t> tokens, bool dout) {
    FLASHMOE_CUDA_CHECK(cudaSetDevice(options_.device));
    const cudaError_t written = launch_write_bindings(
        bindings.data(), static_cast<int>(bindings.size()),
        reinterpret_cast<runtime::PassBinding<T>*>(workspace_.at(bindings_at_)), stream_);
    FLASHMOE_CHECK(written == cudaSuccess,
                   "cuda engine: writing the ranks' bindings failed: ", cudaGetErrorName(written),
                   ": ", cudaGetErrorString(written));
    mark_work_unless_capturing();
    staged_tokens_ = std::move(tokens);
    dout_staged_ = dout;
    staged_ = true;
  }

  cudaStream_t own_stream() {
    if (own_stream_ == nullptr)
      FLASHMOE_CUDA_CHECK(cudaStreamCreateWithFlags(&own_stream_, cudaStreamNonBlocking));
    return own_stream_;
  }

  // Waits for every pass on the stream, throws the first failure recorded since the last one
  // was reported, then copies the forward's outputs and (or) the backward's gradients into
  // results_.
  void complete(bool forward_outputs, bool gradients) {
    const cudaError_t ended = cudaStreamSynchronize(stream_);
    if (ended != cudaSuccess) fail_on_device(ended);
    if (const std::optional<FailureRecord> failed = take_failure())
      throw TimeoutError(timeout_message(*failed));
    download_outputs(forward_outputs, gradients);
  }

  void throw_if_failed() override {
    FLASHMOE_CUDA_CHECK(cudaSetDevice(options_.device));
    // A trapped kernel shows as an error of the stream (cudaStreamQuery does not wait; it is not
    // allowed on a stream being captured, whose work has not run anyway).
    if (!capturing()) {
      const cudaError_t state = cudaStreamQuery(stream_);
      if (state != cudaSuccess && state != cudaErrorNotReady) fail_on_device(state);
    }
    if (const std::optional<FailureRecord> failed = take_failure())
      throw TimeoutError(
          detail::concat("cuda engine: a pass enqueued earlier on this layer gave "
                         "up waiting (reported now, as its passes run without a "
                         "host wait): ",
                         timeout_message(*failed)));
  }

  // A stream error means the context is lost: the kernel may have trapped on a broken
  // invariant after recording it in host memory, which stays readable.
  [[noreturn]] void fail_on_device(cudaError_t error) const {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const runtime::BrokenInvariant broken = broken_invariant_.host();
    FLASHMOE_CHECK(broken.claimed == 0, "cuda engine: a broken invariant trapped the kernel: ",
                   runtime::broken_invariant_message(broken), " (", cudaGetErrorName(error),
                   "; the CUDA context is unusable after this)");
    FLASHMOE_FAIL("cuda engine: a pass failed on the device: ", cudaGetErrorName(error), ": ",
                  cudaGetErrorString(error), " (the CUDA context is unusable after this)");
  }

  // The failure the device recorded since the host last took one, once the device has finished
  // writing it, and the record cleared for the passes that follow (the first failure wins until
  // the host has taken it; persistent_kernel.cuh). Safe while passes still run: the fields are
  // read only after `published`, and `claimed` is released last, after they are cleared.
  std::optional<FailureRecord> take_failure() {
    using portable::Scope;
    FailureRecord& r = failure_.host();
    if (portable::load_acquire<Scope::system>(r.published) == 0) return std::nullopt;
    const FailureRecord failed = r;
    r.epoch = 0;
    r.kind = runtime::PassKind::forward;
    r.rank = -1;
    r.block = -1;
    r.waited_for = {};
    portable::store_relaxed<Scope::system>(r.published, std::uint32_t{0});
    portable::store_release<Scope::system>(r.claimed, std::uint32_t{0});
    return failed;
  }

  std::string timeout_message(const FailureRecord& failed) const {
    return runtime::timeout_message(failed.rank, config_.wait_timeout_s, failed.kind, failed.epoch,
                                    failed.waited_for);
  }

  void allocate_workspace() {
    Arena a;
    const auto W = static_cast<std::size_t>(world_);
    symmetric_at_ = a.add(W * layout_.symmetric_bytes);
    private_at_ = a.add(W * layout_.private_bytes);
    scratch_at_ =
        a.add(W * static_cast<std::size_t>(plan_.processor_groups) * layout_.group_scratch_bytes);
    abort_at_ = a.add(sizeof(std::uint64_t));
    clock_at_ = a.add(sizeof(PassClock));
    table_at_ = a.add(W * sizeof(std::byte*));
    fixed_at_ = a.add(W * sizeof(State));
    bindings_at_ = a.add(W * sizeof(runtime::PassBinding<T>));
    workspace_bytes_ = a.bytes();
    workspace_ = DeviceMemory(workspace_bytes_);
    // Everything starts at zero: signals, counters, pass words, the abort word, the pass clock.
    FLASHMOE_CUDA_CHECK(cudaMemsetAsync(workspace_.at(0), 0, workspace_bytes_, stream_));

    std::vector<std::byte*> buffers(W);
    std::vector<State> fixed(W);
    const runtime::LayerSettings layer = runtime::layer_settings(config_);
    const auto* table = reinterpret_cast<std::byte* const*>(workspace_.at(table_at_));
    auto* abort_word = reinterpret_cast<std::uint64_t*>(workspace_.at(abort_at_));
    for (std::size_t r = 0; r < W; ++r) {
      buffers[r] = workspace_.at(symmetric_at_ + r * layout_.symmetric_bytes);
      State& f = fixed[r];
      f.rank = static_cast<int>(r);
      f.layout = layout_;
      f.settings = layer;
      f.faults = options_.faults;
      f.transport = Transport(table, static_cast<int>(r), world_, abort_word);
      f.private_area = workspace_.at(private_at_ + r * layout_.private_bytes);
      f.broken_invariant = broken_invariant_.device();
    }
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(workspace_.at(table_at_), buffers.data(),
                                        W * sizeof(std::byte*), cudaMemcpyHostToDevice, stream_));
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(workspace_.at(fixed_at_), fixed.data(), W * sizeof(State),
                                        cudaMemcpyHostToDevice, stream_));
    FLASHMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `buffers` and `fixed` go out of scope
  }

  // Inputs and outputs at their largest (max_tokens rows), so passes of any token count reuse
  // them. The outputs are allocated now; the inputs (the weights among them) only when stage()
  // first copies inputs in: passes on the caller's device tensors (stage_device) never need them.
  void allocate_io() {
    Arena in, a;
    const Config& c = config_;
    const std::int64_t T_ = c.max_tokens, H = c.hidden, E = c.experts, k = c.top_k, P = c.ffn;
    const std::int64_t R = c.w1_rows(), L = c.local_experts(world_);
    const std::size_t s = sizeof(T), acc = sizeof(Acc);
    wg_at_ = in.add(bytes_of({E, H}, s));
    for (int r = 0; r < world_; ++r) {
      RankIo io{};
      io.x = in.add(bytes_of({T_, H}, s));
      io.w1 = in.add(bytes_of({L, R, H}, s));
      io.b1 = in.add(bytes_of({L, R}, s));
      io.w2 = in.add(bytes_of({L, H, P}, s));
      io.b2 = in.add(bytes_of({L, H}, s));
      io.dout = in.add(bytes_of({T_, H}, s));
      io.out = a.add(bytes_of({T_, H}, acc));
      io.dx = a.add(bytes_of({T_, H}, acc));
      io.dwg = a.add(bytes_of({E, H}, acc));
      io.dw1 = a.add(bytes_of({L, R, H}, acc));
      io.db1 = a.add(bytes_of({L, R}, acc));
      io.dw2 = a.add(bytes_of({L, H, P}, acc));
      io.db2 = a.add(bytes_of({L, H}, acc));
      io.topk_index = a.add(bytes_of({T_, k}, sizeof(std::int32_t)));
      io.topk_weight = a.add(bytes_of({T_, k}, acc));
      io.kept = a.add(bytes_of({T_, k}, 1));
      io.routed = a.add(bytes_of({E}, sizeof(std::int64_t)));
      io.accepted = a.add(bytes_of({E}, sizeof(std::int64_t)));
      io.losses = a.add(2 * sizeof(double));
      rank_io_.push_back(io);
    }
    input_bytes_ = in.bytes();
    io_ = DeviceMemory(a.bytes());
  }

  void check_inputs(const Problem& inputs, bool forward) const {
    FLASHMOE_CHECK(inputs.world_size == world_, "cuda engine: a pass for ", inputs.world_size,
                   " ranks on a layer of ", world_);
    FLASHMOE_CHECK(inputs.config.dtype == config_.dtype && inputs.config.hidden == config_.hidden &&
                       inputs.config.ffn == config_.ffn &&
                       inputs.config.experts == config_.experts &&
                       inputs.config.top_k == config_.top_k &&
                       inputs.config.activation == config_.activation &&
                       inputs.config.bias == config_.bias &&
                       inputs.config.max_tokens == config_.max_tokens,
                   "cuda engine: a pass's configuration differs from the layer's");
    validate_problem(inputs);
    if (!forward)
      for (int r = 0; r < world_; ++r)
        FLASHMOE_CHECK(inputs.ranks[static_cast<std::size_t>(r)].dout.defined(),
                       "cuda engine: the backward of rank ", r, " has no dout");
  }

  void upload(std::size_t at, const HostTensor& tensor) {
    if (!tensor.defined() || tensor.nbytes() == 0) return;
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(inputs_.at(at), tensor.raw(), tensor.nbytes(),
                                        cudaMemcpyHostToDevice, stream_));
  }

  void upload_inputs(const Problem& inputs, bool with_dout) {
    if (inputs_.bytes() == 0) inputs_ = DeviceMemory(input_bytes_);
    upload(wg_at_, inputs.wg);
    for (int r = 0; r < world_; ++r) {
      const RankInputs& in = inputs.ranks[static_cast<std::size_t>(r)];
      const RankIo& io = rank_io_[static_cast<std::size_t>(r)];
      upload(io.x, in.x);
      upload(io.w1, in.w1);
      upload(io.w2, in.w2);
      if (config_.bias) {
        upload(io.b1, in.b1);
        upload(io.b2, in.b2);
      }
      if (with_dout) upload(io.dout, in.dout);
    }
  }

  // Rank r's binding to the inputs stage() copied into the layer's own buffers.
  runtime::PassBinding<T> bind(const Problem& inputs, int r) const {
    const RankIo& io = rank_io_[static_cast<std::size_t>(r)];
    const auto in = [&](std::size_t at) { return reinterpret_cast<const T*>(inputs_.at(at)); };
    runtime::PassBinding<T> b = output_binding(r);
    b.tokens = inputs.tokens(r);
    b.x = in(io.x);
    b.wg = in(wg_at_);
    b.w1 = in(io.w1);
    b.w2 = in(io.w2);
    b.b1 = config_.bias ? in(io.b1) : nullptr;
    b.b2 = config_.bias ? in(io.b2) : nullptr;
    b.dout = in(io.dout);
    b.d_aux = inputs.d_aux;
    b.d_z = inputs.d_z;
    return b;
  }

  // Rank r's binding with its outputs (the layer's own buffers) set and no inputs.
  runtime::PassBinding<T> output_binding(int r) const {
    const RankIo& io = rank_io_[static_cast<std::size_t>(r)];
    const auto out = [&](std::size_t at) { return reinterpret_cast<Acc*>(io_.at(at)); };
    runtime::PassBinding<T> b;
    b.out = out(io.out);
    b.dx = out(io.dx);
    b.dwg = out(io.dwg);
    b.dw1 = out(io.dw1);
    b.db1 = config_.bias ? out(io.db1) : nullptr;
    b.dw2 = out(io.dw2);
    b.db2 = config_.bias ? out(io.db2) : nullptr;
    b.topk_index = reinterpret_cast<std::int32_t*>(io_.at(io.topk_index));
    b.topk_weight = out(io.topk_weight);
    b.kept = reinterpret_cast<std::uint8_t*>(io_.at(io.kept));
    b.routed = reinterpret_cast<std::int64_t*>(io_.at(io.routed));
    b.accepted = reinterpret_cast<std::int64_t*>(io_.at(io.accepted));
    b.losses = reinterpret_cast<double*>(io_.at(io.losses));
    return b;
  }

  void download(HostTensor& into, ElementType type, Shape shape, std::size_t at) {
    into = HostTensor(type, std::move(shape));
    if (into.nbytes() > 0)
      FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(into.raw(), io_.at(at), into.nbytes(),
                                          cudaMemcpyDeviceToHost, stream_));
  }

  // Of the staged token counts: the passes' since the inputs were last staged.
  void download_outputs(bool forward_outputs, bool gradients) {
    const Config& c = config_;
    const ElementType acc = element_type_of<Acc>();
    const std::int64_t H = c.hidden, E = c.experts, k = c.top_k, P = c.ffn;
    const std::int64_t R = c.w1_rows(), L = c.local_experts(world_);
    results_.ranks.resize(static_cast<std::size_t>(world_));
    for (int r = 0; r < world_; ++r) {
      RankOutputs& o = results_.ranks[static_cast<std::size_t>(r)];
      const RankIo& io = rank_io_[static_cast<std::size_t>(r)];
      const std::int64_t S = staged_tokens_[static_cast<std::size_t>(r)];
      if (forward_outputs) {
        download(o.out, acc, {S, H}, io.out);
        download(o.routing.topk_index, ElementType::i32, {S, k}, io.topk_index);
        download(o.routing.topk_weight, acc, {S, k}, io.topk_weight);
        download(o.routing.kept, ElementType::u8, {S, k}, io.kept);
      }
      if (gradients) {
        download(o.dx, acc, {S, H}, io.dx);
        download(o.dwg, acc, {E, H}, io.dwg);
        download(o.dw1, acc, {L, R, H}, io.dw1);
        download(o.dw2, acc, {L, H, P}, io.dw2);
        if (c.bias) {
          download(o.db1, acc, {L, R}, io.db1);
          download(o.db2, acc, {L, H}, io.db2);
        }
      }
    }
    if (forward_outputs) {
      download_counts_and_losses();  // synchronises the stream
    } else {
      FLASHMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
  }

  // The forward's routing counts and losses of every rank, into results_ (and the tensor copies
  // enqueued before them: this synchronises the stream).
  void download_counts_and_losses() {
    const auto E = static_cast<std::size_t>(config_.experts);
    results_.ranks.resize(static_cast<std::size_t>(world_));
    std::vector<double> losses(2 * static_cast<std::size_t>(world_));
    for (int r = 0; r < world_; ++r) {
      RankOutputs& o = results_.ranks[static_cast<std::size_t>(r)];
      const RankIo& io = rank_io_[static_cast<std::size_t>(r)];
      o.routing.routed.assign(E, 0);
      o.routing.accepted.assign(E, 0);
      FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(o.routing.routed.data(), io_.at(io.routed),
                                          E * sizeof(std::int64_t), cudaMemcpyDeviceToHost,
                                          stream_));
      FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(o.routing.accepted.data(), io_.at(io.accepted),
                                          E * sizeof(std::int64_t), cudaMemcpyDeviceToHost,
                                          stream_));
      FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(&losses[2 * static_cast<std::size_t>(r)],
                                          io_.at(io.losses), 2 * sizeof(double),
                                          cudaMemcpyDeviceToHost, stream_));
    }
    FLASHMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (int r = 0; r < world_; ++r) {
      RankOutputs& o = results_.ranks[static_cast<std::size_t>(r)];
      o.aux_loss = losses[2 * static_cast<std::size_t>(r)];
      o.z_loss = losses[2 * static_cast<std::size_t>(r) + 1];
    }
  }

  Config config_;
  int world_;
  CudaOptions options_;
  cudaDeviceProp device_{};
  cudaStream_t stream_ = nullptr;      // the passes' stream
  cudaStream_t own_stream_ = nullptr;  // the layer's own stream, once one was needed
  cudaEvent_t begin_ = nullptr, end_ = nullptr;
  cudaEvent_t last_work_ = nullptr;  // recorded after the layer's latest work on stream_
  KernelResources resources_;
  GridPlan plan_;
  runtime::WorkspaceLayout layout_;
  runtime::ProgramSettings settings_;

  DeviceMemory workspace_;
  std::size_t workspace_bytes_ = 0;
  std::size_t symmetric_at_ = 0, private_at_ = 0, scratch_at_ = 0, abort_at_ = 0, clock_at_ = 0,
              table_at_ = 0, fixed_at_ = 0, bindings_at_ = 0;
  DeviceMemory io_;      // the outputs
  DeviceMemory inputs_;  // what stage() copies in: allocated by the first stage()
  std::size_t input_bytes_ = 0, wg_at_ = 0;
  std::vector<RankIo> rank_io_;
  MappedHost<FailureRecord> failure_;
  MappedHost<runtime::BrokenInvariant> broken_invariant_;  // written by a kernel that then traps

  // What the host staged (stage_inputs) and enqueued. The device counts the passes themselves
  // (PassClock): graph replays are passes the host never sees.
  bool staged_ = false, dout_staged_ = false;
  std::vector<std::int64_t> staged_tokens_;
  std::uint64_t forwards_ = 0, backwards_ = 0;  // enqueued through this layer

  Results results_;
};

}  // namespace

Layer::Layer(const Problem& problem, CudaOptions options)
    : Layer(problem.config, problem.world_size, options) {
  validate_problem(problem);
  impl_->problem = &problem;
}

Layer::Layer(const Config& config, int world_size, CudaOptions options) {
  if (const std::string reason = unavailable_reason(options.device); !reason.empty())
    throw Error("backend cuda: " + reason);
  validate(config, world_size);
  switch (config.dtype) {
    case DType::fp64:
      impl_ = std::make_unique<LayerImpl<double>>(config, world_size, options);
      return;
    case DType::fp32:
      impl_ = std::make_unique<LayerImpl<float>>(config, world_size, options);
      return;
    case DType::bf16:
      impl_ = std::make_unique<LayerImpl<bfloat16>>(config, world_size, options);
      return;
    case DType::fp16:
      impl_ = std::make_unique<LayerImpl<float16>>(config, world_size, options);
      return;
  }
  FLASHMOE_FAIL("dtype ", static_cast<int>(config.dtype), " is not a dtype");
}

Layer::~Layer() = default;
Layer::Layer(Layer&&) noexcept = default;
Layer& Layer::operator=(Layer&&) noexcept = default;

void Layer::forward(const Problem& inputs) {
  impl_->run(runtime::PassKind::forward, inputs);
}
void Layer::backward(const Problem& inputs) {
  impl_->run(runtime::PassKind::backward, inputs);
}
void Layer::forward() {
  forward(own_problem());
}
void Layer::stage(const Problem& inputs) {
  impl_->stage(inputs);
}
void Layer::enqueue_forward() {
  impl_->enqueue(runtime::PassKind::forward);
}
void Layer::enqueue_backward() {
  impl_->enqueue(runtime::PassKind::backward);
}
void Layer::synchronize(ResultCopies copies) {
  impl_->synchronize(copies);
}
void* Layer::stream() const {
  return impl_->stream();
}
void Layer::throw_if_failed() {
  impl_->throw_if_failed();
}
void Layer::stage_device(const DeviceInputs& inputs) {
  impl_->stage_device(inputs);
}
void Layer::use_stream(void* stream) {
  impl_->use_stream(stream);
}
DeviceResult Layer::result(std::string_view name, int rank) const {
  return impl_->result(name, rank);
}
void Layer::copy_result(std::string_view name, int rank, void* destination) const {
  impl_->copy_result(name, rank, destination);
}

std::size_t DeviceResult::bytes() const {
  std::size_t n = element_size(type);
  for (const std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}
void Layer::backward() {
  backward(own_problem());
}
const Problem& Layer::own_problem() const {
  FLASHMOE_CHECK(impl_->problem != nullptr,
                 "cuda engine: this layer was made without a problem; pass the inputs (forward(inputs), "
                 "stage() or stage_device())");
  return *impl_->problem;
}
const Results& Layer::results() const {
  return impl_->results();
}
std::string Layer::describe() const {
  return impl_->describe();
}

Results run_on_gpu(const Problem& problem, const CudaOptions& options) {
  Layer layer(problem, options);
  layer.forward();
  if (problem.backward) layer.backward();
  return layer.results();
}

}  // namespace flashmoe::cuda
