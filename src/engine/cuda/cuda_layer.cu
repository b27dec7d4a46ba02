// cuda::Layer: the host side of the GPU engine. It checks the device, plans the persistent grid
// (grid_plan.hpp) from the kernel's measured occupancy, lays out one device allocation for every
// rank's symmetric and private areas, its groups' scratch and the program's fixed state, and
// runs each pass as one cooperative launch on the layer's stream: inputs copied in, the launch,
// one stream synchronisation, the failure record read, outputs copied out. Host code only; the
// kernel is instantiated in kernels.cu.
#include "engine/cuda/cuda_layer.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "engine/cuda/grid_plan.hpp"
#include "engine/cuda/kernels.hpp"
#include "flashmoe/error.hpp"
#include "platform/cuda/cuda_check.hpp"
#include "platform/cuda/device_memory.hpp"
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
  LayerImpl(const Problem& problem, const CudaOptions& options)
      : config_(problem.config), world_(problem.world_size), options_(options) {
    this->problem = &problem;
    FLASHMOE_CUDA_CHECK(cudaSetDevice(options_.device));
    FLASHMOE_CUDA_CHECK(cudaGetDeviceProperties(&device_, options_.device));
    if (options_.stream != nullptr) {
      stream_ = static_cast<cudaStream_t>(options_.stream);
    } else {
      FLASHMOE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      own_stream_ = true;
    }
    FLASHMOE_CUDA_CHECK(cudaEventCreate(&begin_));
    FLASHMOE_CUDA_CHECK(cudaEventCreate(&end_));

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
    (void)cudaStreamSynchronize(stream_);
    (void)cudaEventDestroy(begin_);
    (void)cudaEventDestroy(end_);
    if (own_stream_) (void)cudaStreamDestroy(stream_);
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
    FLASHMOE_CHECK(forward || forwards_ > 0,
                   "cuda engine: a backward needs a forward before it (none ran yet)");
    FLASHMOE_CUDA_CHECK(cudaSetDevice(options_.device));
    const runtime::PassDescriptor pass{++epoch_, kind, forward ? forwards_++ : forwards_ - 1};
    upload_inputs(inputs, forward);
    std::vector<runtime::PassBinding<T>> bindings(static_cast<std::size_t>(world_));
    for (int r = 0; r < world_; ++r) bindings[static_cast<std::size_t>(r)] = bind(inputs, r);
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(workspace_.at(bindings_at_), bindings.data(),
                                        bindings.size() * sizeof(bindings[0]),
                                        cudaMemcpyHostToDevice, stream_));
    // The previous pass ended (its stream was synchronised): nothing on the device touches the
    // record until this launch, which the stores below precede.
    failure_.host() = FailureRecord{};
    std::atomic_thread_fence(std::memory_order_seq_cst);

    WorldLaunch<T> launch;
    launch.fixed = reinterpret_cast<const State*>(workspace_.at(fixed_at_));
    launch.bindings = reinterpret_cast<const runtime::PassBinding<T>*>(workspace_.at(bindings_at_));
    launch.pass = pass;
    launch.settings = settings_;
    launch.blocks_per_rank = plan_.blocks_per_rank;
    launch.scratch = workspace_.at(scratch_at_);
    launch.failure = failure_.device();
    FLASHMOE_CUDA_CHECK(cudaEventRecord(begin_, stream_));
    const cudaError_t launched = launch_pass(launch, plan_.grid_blocks, stream_);
    FLASHMOE_CHECK(launched == cudaSuccess, "cuda engine: the persistent kernel's launch (",
                   plan_.describe(), ") failed: ", cudaGetErrorName(launched), ": ",
                   cudaGetErrorString(launched));
    FLASHMOE_CUDA_CHECK(cudaEventRecord(end_, stream_));
    const cudaError_t ended = cudaStreamSynchronize(stream_);
    FLASHMOE_CHECK(ended == cudaSuccess, "cuda engine: the ", forward ? "forward" : "backward",
                   " pass (epoch ", pass.epoch, ") failed on the device: ",
                   cudaGetErrorName(ended), ": ", cudaGetErrorString(ended),
                   " (a broken invariant traps the kernel after printing what broke; the CUDA "
                   "context is unusable after this)");
    const FailureRecord& failed = failure_.host();
    if (failed.claimed != 0)
      throw TimeoutError(runtime::timeout_message(failed.rank, config_.wait_timeout_s, kind,
                                                  failed.epoch, failed.waited_for));
    float milliseconds = 0.0f;
    FLASHMOE_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, begin_, end_));
    results_.seconds[forward ? "forward" : "backward"] = milliseconds * 1e-3;
    download_outputs(inputs, forward);
  }

 private:
  void allocate_workspace() {
    Arena a;
    const auto W = static_cast<std::size_t>(world_);
    symmetric_at_ = a.add(W * layout_.symmetric_bytes);
    private_at_ = a.add(W * layout_.private_bytes);
    scratch_at_ =
        a.add(W * static_cast<std::size_t>(plan_.processor_groups) * layout_.group_scratch_bytes);
    abort_at_ = a.add(sizeof(std::uint64_t));
    table_at_ = a.add(W * sizeof(std::byte*));
    fixed_at_ = a.add(W * sizeof(State));
    bindings_at_ = a.add(W * sizeof(runtime::PassBinding<T>));
    workspace_bytes_ = a.bytes();
    workspace_ = DeviceMemory(workspace_bytes_);
    // Everything starts at zero: signals, counters, pass words, the abort word.
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
    }
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(workspace_.at(table_at_), buffers.data(),
                                        W * sizeof(std::byte*), cudaMemcpyHostToDevice, stream_));
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(workspace_.at(fixed_at_), fixed.data(), W * sizeof(State),
                                        cudaMemcpyHostToDevice, stream_));
    FLASHMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `buffers` and `fixed` go out of scope
  }

  // Inputs and outputs at their largest (max_tokens rows), so passes of any token count reuse
  // them.
  void allocate_io() {
    Arena a;
    const Config& c = config_;
    const std::int64_t T_ = c.max_tokens, H = c.hidden, E = c.experts, k = c.top_k, P = c.ffn;
    const std::int64_t R = c.w1_rows(), L = c.local_experts(world_);
    const std::size_t s = sizeof(T), acc = sizeof(Acc);
    wg_at_ = a.add(bytes_of({E, H}, s));
    for (int r = 0; r < world_; ++r) {
      RankIo io{};
      io.x = a.add(bytes_of({T_, H}, s));
      io.w1 = a.add(bytes_of({L, R, H}, s));
      io.b1 = a.add(bytes_of({L, R}, s));
      io.w2 = a.add(bytes_of({L, H, P}, s));
      io.b2 = a.add(bytes_of({L, H}, s));
      io.dout = a.add(bytes_of({T_, H}, s));
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
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(io_.at(at), tensor.raw(), tensor.nbytes(),
                                        cudaMemcpyHostToDevice, stream_));
  }

  void upload_inputs(const Problem& inputs, bool forward) {
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
      if (!forward) upload(io.dout, in.dout);
    }
  }

  runtime::PassBinding<T> bind(const Problem& inputs, int r) const {
    const RankIo& io = rank_io_[static_cast<std::size_t>(r)];
    const auto in = [&](std::size_t at) { return reinterpret_cast<const T*>(io_.at(at)); };
    const auto out = [&](std::size_t at) { return reinterpret_cast<Acc*>(io_.at(at)); };
    runtime::PassBinding<T> b;
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

  void download_outputs(const Problem& inputs, bool forward) {
    const Config& c = config_;
    const ElementType acc = element_type_of<Acc>();
    const std::int64_t H = c.hidden, E = c.experts, k = c.top_k, P = c.ffn;
    const std::int64_t R = c.w1_rows(), L = c.local_experts(world_);
    results_.ranks.resize(static_cast<std::size_t>(world_));
    std::vector<double> losses(2 * static_cast<std::size_t>(world_));
    for (int r = 0; r < world_; ++r) {
      RankOutputs& o = results_.ranks[static_cast<std::size_t>(r)];
      const RankIo& io = rank_io_[static_cast<std::size_t>(r)];
      const std::int64_t S = inputs.tokens(r);
      if (forward) {
        download(o.out, acc, {S, H}, io.out);
        download(o.routing.topk_index, ElementType::i32, {S, k}, io.topk_index);
        download(o.routing.topk_weight, acc, {S, k}, io.topk_weight);
        download(o.routing.kept, ElementType::u8, {S, k}, io.kept);
        o.routing.routed.assign(static_cast<std::size_t>(E), 0);
        o.routing.accepted.assign(static_cast<std::size_t>(E), 0);
        FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(o.routing.routed.data(), io_.at(io.routed),
                                            static_cast<std::size_t>(E) * sizeof(std::int64_t),
                                            cudaMemcpyDeviceToHost, stream_));
        FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(o.routing.accepted.data(), io_.at(io.accepted),
                                            static_cast<std::size_t>(E) * sizeof(std::int64_t),
                                            cudaMemcpyDeviceToHost, stream_));
        FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(&losses[2 * static_cast<std::size_t>(r)],
                                            io_.at(io.losses), 2 * sizeof(double),
                                            cudaMemcpyDeviceToHost, stream_));
      } else {
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
    FLASHMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (!forward) return;
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
  cudaStream_t stream_ = nullptr;
  bool own_stream_ = false;
  cudaEvent_t begin_ = nullptr, end_ = nullptr;
  KernelResources resources_;
  GridPlan plan_;
  runtime::WorkspaceLayout layout_;
  runtime::ProgramSettings settings_;

  DeviceMemory workspace_;
  std::size_t workspace_bytes_ = 0;
  std::size_t symmetric_at_ = 0, private_at_ = 0, scratch_at_ = 0, abort_at_ = 0, table_at_ = 0,
              fixed_at_ = 0, bindings_at_ = 0;
  DeviceMemory io_;
  std::size_t wg_at_ = 0;
  std::vector<RankIo> rank_io_;
  MappedHost<FailureRecord> failure_;

  Results results_;
  std::uint32_t epoch_ = 0, forwards_ = 0;
};

}  // namespace

Layer::Layer(const Problem& problem, CudaOptions options) {
  if (const std::string reason = unavailable_reason(options.device); !reason.empty())
    throw Error("backend cuda: " + reason);
  validate(problem.config, problem.world_size);
  validate_problem(problem);
  switch (problem.config.dtype) {
    case DType::fp64:
      impl_ = std::make_unique<LayerImpl<double>>(problem, options);
      return;
    case DType::fp32:
      impl_ = std::make_unique<LayerImpl<float>>(problem, options);
      return;
    case DType::bf16:
      impl_ = std::make_unique<LayerImpl<bfloat16>>(problem, options);
      return;
    case DType::fp16:
      impl_ = std::make_unique<LayerImpl<float16>>(problem, options);
      return;
  }
  FLASHMOE_FAIL("dtype ", static_cast<int>(problem.config.dtype), " is not a dtype");
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
  forward(*impl_->problem);
}
void Layer::backward() {
  backward(*impl_->problem);
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
