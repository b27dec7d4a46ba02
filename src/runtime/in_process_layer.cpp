// Host side of the engine: sizes and owns the workspace of every rank this process drives (all
// of them in process, its own under MPI — the LayerWorld decides, layer_world.hpp), prepares
// each pass, launches the workers and collects results. Passes are separated by a world fence
// (all worker threads of a pass join, and under MPI every rank passes MpiWorld::pass_fence after
// its reset), which is what makes it safe to reset the counters and queue here; signals are
// epoch-tagged anyway, the invariant a persistent device kernel without that fence relies on
// (docs/engine.md). Results hold the local ranks' outputs; other ranks' entries stay empty.
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include "flashmoe/error.hpp"
#include "math/capacity.hpp"
#include "platform/cpu/trace.hpp"
#include "platform/cpu/wait.hpp"
#include "platform/cpu/worker_loop.hpp"
#include "platform/cpu/worker_threads.hpp"
#include "runtime/engine.hpp"
#include "runtime/layer_world.hpp"
#include "runtime/processor.hpp"
#include "runtime/subscriber.hpp"

namespace flashmoe::engine {

using runtime::accumulate_t;
using runtime::PassKind;
using runtime::RankState;
using runtime::Task;
using runtime::TaskKind;
using runtime::WorkspaceLayout;

struct InProcessLayer::Impl {
  virtual ~Impl() = default;
  virtual void forward() = 0;
  virtual void backward() = 0;
  virtual const Results& results() const = 0;
  virtual const WorkspaceLayout& layout() const = 0;
  virtual const std::byte* symmetric_buffer(int rank) const = 0;
};

namespace {

struct AlignedDelete {
  void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{64}); }
};

// `requested`, or for 0 this node's hardware threads shared among the ranks on this node.
int choose_workers(int requested, int ranks_on_this_node) {
  if (requested > 0) return requested;
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, hardware / ranks_on_this_node);
}

void check_tiles(const runtime::TileShape& t) {
  FLASHMOE_CHECK(t.token_rows > 0 && t.expert_rows > 0 && t.ffn_columns > 0 &&
                     t.hidden_columns > 0 && t.weight_rows > 0,
                 "engine tiles: every tile size must be positive, got token_rows = ", t.token_rows,
                 ", expert_rows = ", t.expert_rows, ", ffn_columns = ", t.ffn_columns,
                 ", hidden_columns = ", t.hidden_columns, ", weight_rows = ", t.weight_rows);
}

template <typename T>
class LayerImpl final : public InProcessLayer::Impl {
  using Acc = accumulate_t<T>;

 public:
  LayerImpl(const Problem& problem, EngineOptions options, const runtime::LayerWorldFactory& world)
      : problem_(problem),
        options_(std::move(options)),
        config_(problem.config),
        world_size_(problem.world_size),
        layout_(make_layout()),
        world_(world(layout_.symmetric_bytes)),
        workers_(choose_workers(options_.workers_per_rank, world_->ranks_on_this_node())) {
    FLASHMOE_CHECK(world_->world_size() == world_size_, "engine: the world has ",
                   world_->world_size(), " ranks, the problem ", world_size_);
    const ElementType acc_type = element_type_of<Acc>();
    const std::int64_t E = config_.experts, H = config_.hidden, P = config_.ffn;
    const std::int64_t R = config_.w1_rows(), L = config_.local_experts(world_size_);
    const std::int64_t k = config_.top_k;
    // Only the local ranks' inputs are read (and checked): a process driving one rank of an MPI
    // job may leave the other entries empty.
    for (const int r : world_->local_ranks()) validate_problem_rank(problem, r);
    results_.ranks.resize(static_cast<std::size_t>(world_size_));
    per_rank_.resize(static_cast<std::size_t>(world_size_));
    for (const int r : world_->local_ranks()) {
      const RankInputs& in = problem.ranks[static_cast<std::size_t>(r)];
      PerRank& own = per_rank_[static_cast<std::size_t>(r)];
      RankOutputs& out = results_.ranks[static_cast<std::size_t>(r)];
      const std::int64_t S = in.x.dim(0);
      own.private_area.reset(static_cast<std::byte*>(::operator new[](
          std::max<std::size_t>(layout_.private_bytes, 64), std::align_val_t{64})));
      clear_except(own.private_area.get(), layout_.private_bytes, private_data_regions());
      clear_except(world_->buffer(r), layout_.symmetric_bytes, symmetric_data_regions());
      for (int w = 0; w < workers_; ++w)
        own.scratch.emplace_back(ElementType::u8,
                                 Shape{static_cast<std::int64_t>(layout_.scratch_bytes)});
      own.stats.resize(static_cast<std::size_t>(workers_));
      out.out = HostTensor(acc_type, {S, H});
      out.dx = HostTensor(acc_type, {S, H});
      out.dwg = HostTensor(acc_type, {E, H});
      out.dw1 = HostTensor(acc_type, {L, R, H});
      out.dw2 = HostTensor(acc_type, {L, H, P});
      if (config_.bias) {
        out.db1 = HostTensor(acc_type, {L, R});
        out.db2 = HostTensor(acc_type, {L, H});
      }
      out.routing.topk_index = HostTensor(ElementType::i32, {S, k});
      out.routing.topk_weight = HostTensor(acc_type, {S, k});
      out.routing.kept = HostTensor(ElementType::u8, {S, k});

      RankState<T>& s = own.state;
      s.rank = r;
      s.layout = layout_;
      s.settings = {config_.activation, is_gated(config_.activation),
                    config_.bias,       config_.normalize_weights,
                    problem.d_aux,      problem.d_z};
      s.faults = options_.faults;
      s.world = world_->view(r);
      s.private_area = own.private_area.get();
      s.tokens = S;
      s.capacity = math::expert_capacity(S, k, E, config_.capacity_factor, config_.drop_tokens);
      FLASHMOE_CHECK(s.capacity <= layout_.shape.packet_capacity, "rank ", r, ": capacity ",
                     s.capacity, " exceeds the packet bound ", layout_.shape.packet_capacity);
      s.active_token_tiles = (S + layout_.tiles.token_rows - 1) / layout_.tiles.token_rows;
      s.out = out.out.data<Acc>().data();
      s.dx = out.dx.data<Acc>().data();
      s.dwg = out.dwg.data<Acc>().data();
      s.dw1 = out.dw1.data<Acc>().data();
      s.dw2 = out.dw2.data<Acc>().data();
      s.db1 = out.db1.defined() ? out.db1.data<Acc>().data() : nullptr;
      s.db2 = out.db2.defined() ? out.db2.data<Acc>().data() : nullptr;
    }
  }

  void forward() override {
    bind_inputs(PassKind::forward);
    // Results.seconds describes the latest forward (and the backward after it, once run).
    results_.seconds.clear();
    run_pass(PassKind::forward);
    forward_done_ = true;
    collect_routing();
  }

  void backward() override {
    FLASHMOE_CHECK(forward_done_, "backward: run forward() on this layer first");
    for (const int r : world_->local_ranks())
      FLASHMOE_CHECK(problem_.ranks[static_cast<std::size_t>(r)].dout.defined(),
                     "backward: tensor dout (rank ", r, ") is missing");
    bind_inputs(PassKind::backward);
    std::erase_if(results_.seconds,
                  [](const auto& entry) { return entry.first.starts_with("backward"); });
    run_pass(PassKind::backward);
  }

  const Results& results() const override { return results_; }
  const WorkspaceLayout& layout() const override { return layout_; }
  const std::byte* symmetric_buffer(int rank) const override { return world_->buffer(rank); }

 private:
  struct PerRank {
    RankState<T> state;
    std::unique_ptr<std::byte[], AlignedDelete> private_area;  // layout_.private_bytes
    std::vector<Acc> x_acc, b1, b2;                            // widened inputs (bind_inputs)
    std::vector<HostTensor> scratch;                           // [workers]
    std::vector<platform::WorkerStats> stats;                  // [workers]
  };

  // Points every rank at the problem's current input tensors, so a layer computes with the
  // problem's current tensors (new values or new storage); their shapes are checked against the
  // ones fixed at construction. Only the backward reads the accumulation-typed copies of x and
  // wg (the gate gradient GEMMs take both operands in one type), so the forward makes none; the
  // copies go into buffers kept across passes (no allocation after the first backward).
  void bind_inputs(PassKind pass) {
    for (const int r : world_->local_ranks()) validate_problem_rank(problem_, r);
    const bool widen = pass == PassKind::backward;
    if constexpr (!std::is_same_v<T, Acc>)
      if (widen) widen_into(problem_.wg, wg_acc_);
    for (const int r : world_->local_ranks()) {
      const RankInputs& in = problem_.ranks[static_cast<std::size_t>(r)];
      PerRank& own = per_rank_[static_cast<std::size_t>(r)];
      RankState<T>& s = own.state;
      FLASHMOE_CHECK(in.x.dim(0) == s.tokens, "tensor x (rank ", r, "): ", in.x.dim(0),
                     " tokens, the layer was built for ", s.tokens);
      s.x = in.x.data<T>().data();
      s.wg = problem_.wg.data<T>().data();
      s.w1 = in.w1.data<T>().data();
      s.w2 = in.w2.data<T>().data();
      s.dout = in.dout.defined() ? in.dout.data<T>().data() : nullptr;
      // The upstream loss gradients are the problem's at this pass (a caller that keeps the layer
      // from forward to backward sets them just before the backward).
      s.settings.d_aux = problem_.d_aux;
      s.settings.d_z = problem_.d_z;
      if constexpr (!std::is_same_v<T, Acc>)
        if (widen) widen_into(in.x, own.x_acc);
      // Biases are small ([L, R] and [L, H]) and read by both passes' GEMM epilogues.
      if (in.b1.defined()) widen_into(in.b1, own.b1);
      if (in.b2.defined()) widen_into(in.b2, own.b2);
      s.x_acc = std::is_same_v<T, Acc> ? reinterpret_cast<const Acc*>(s.x) : own.x_acc.data();
      s.wg_acc = std::is_same_v<T, Acc> ? reinterpret_cast<const Acc*>(s.wg) : wg_acc_.data();
      s.b1 = in.b1.defined() ? own.b1.data() : nullptr;
      s.b2 = in.b2.defined() ? own.b2.data() : nullptr;
    }
  }

  // `tensor`'s values widened exactly to Acc into `into` (resized once; same shape every pass).
  static void widen_into(const HostTensor& tensor, std::vector<Acc>& into) {
    const auto values = tensor.data<T>();
    into.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) into[i] = static_cast<Acc>(to_float(values[i]));
  }

  // The regions that are never read before this pass wrote them, so they are not zero-filled
  // at construction (they are most of the memory: skipping them cut the construction from ~215
  // to ~140 ms at the benchmark's size). Why each is written before it is read, in every pass:
  //  - x_rows, dy_rows and row_origins: a packet's rows [0, rows) are put by its source before
  //    the release-signal that carries `rows` and this pass's epoch; readers (expert tasks, dW,
  //    return_rows) touch only rows below the rows of a signal of the current epoch.
  //  - y_slots, dx_slots: read (combine, gate gradient, input gradient) only for kept slots of a
  //    token tile whose counter has reached the count of row blocks expected for it, i.e. after
  //    every H-column block of every kept slot was put by its expert's owner in this pass.
  //  - z, h, dz: rows [0, packet rows) of a packet are written by expert_up / expert_grad_hidden
  //    before the tasks that read them are scheduled (by those writers); no reader goes beyond.
  // Every other byte — signals, counters, flags, the task queue, routing — starts at zero:
  // signals are epoch-tagged against a zero (epoch 0) start, and the per-pass reset in
  // prepare_rank relies on the rest holding zeros or values it overwrites.
  std::vector<runtime::Region> symmetric_data_regions() const {
    return {layout_.row_origins, layout_.x_rows, layout_.dy_rows, layout_.y_slots,
            layout_.dx_slots};
  }
  std::vector<runtime::Region> private_data_regions() const {
    return {layout_.z, layout_.h, layout_.dz};
  }

  // Zero-fills [0, bytes) of `area` except the given regions.
  static void clear_except(std::byte* area, std::size_t bytes,
                           std::vector<runtime::Region> skipped) {
    std::sort(
        skipped.begin(), skipped.end(),
        [](const runtime::Region& a, const runtime::Region& b) { return a.offset < b.offset; });
    std::size_t at = 0;
    for (const runtime::Region& region : skipped) {
      if (region.offset > at) std::memset(area + at, 0, region.offset - at);
      at = std::max(at, region.end());
    }
    if (bytes > at) std::memset(area + at, 0, bytes - at);
  }

  WorkspaceLayout make_layout() const {
    runtime::LayerShape shape;
    shape.world_size = world_size_;
    shape.experts = config_.experts;
    shape.local_experts = config_.local_experts(world_size_);
    shape.top_k = config_.top_k;
    shape.hidden = config_.hidden;
    shape.ffn = config_.ffn;
    shape.w1_rows = config_.w1_rows();
    shape.max_tokens = config_.max_tokens;
    shape.packet_capacity = std::max<std::int64_t>(
        1, math::expert_capacity(config_.max_tokens, config_.top_k, config_.experts,
                                 config_.capacity_factor, config_.drop_tokens));
    shape.storage_bytes = sizeof(T);
    shape.accumulate_bytes = sizeof(Acc);
    check_tiles(options_.tiles);
    return WorkspaceLayout::compute(shape, options_.tiles);
  }

  template <typename U>
  static void zero(U* data, std::size_t count) {
    std::memset(static_cast<void*>(data), 0, count * sizeof(U));
  }
  void zero_region(RankState<T>& s, const runtime::Region& region) {
    std::memset(s.private_area + region.offset, 0, region.bytes);
  }

  // Resets this rank's per-pass state and queues its first tasks. Runs while no worker runs.
  void prepare_rank(int r, PassKind pass) {
    RankState<T>& s = per_rank_[static_cast<std::size_t>(r)].state;
    const WorkspaceLayout& l = layout_;
    s.epoch = epoch_;
    zero_region(s, l.control);
    s.control().last_progress_ns = static_cast<std::uint64_t>(platform::steady_now_ns());
    zero_region(s, l.queue_published);
    zero_region(s, l.tile_scheduled);
    zero_region(s, l.packet_seen);
    zero_region(s, l.expert_packets_seen);
    zero_region(s, l.row_tile_progress);
    std::byte* symmetric = world_->buffer(r);
    const runtime::Region counters = pass == PassKind::forward ? l.combine_counters : l.dx_counters;
    std::memset(symmetric + counters.offset, 0, counters.bytes);
    const std::int64_t tiles = s.active_token_tiles;
    if (pass == PassKind::forward) {
      for (std::int64_t g = 0; g < tiles; ++g)
        runtime::schedule(s, Task{TaskKind::gate_tile, 0, 0, static_cast<std::int32_t>(g), 0});
      if (tiles == 0) runtime::schedule(s, Task{TaskKind::route});
      return;
    }
    std::uint32_t* pending = s.template own<std::uint32_t>(l.expert_pending);
    for (std::int64_t e = 0; e < s.local_experts(); ++e) pending[e] = 1;
    RankOutputs& out = results_.ranks[static_cast<std::size_t>(r)];
    // dW1 and dW2 (the large ones) are written whole by their tasks (expert_backward.hpp);
    // the rest are cleared here, as the actors that fill them expect.
    for (HostTensor* t : {&out.dx, &out.dwg, &out.db1, &out.db2})
      if (t->nbytes() > 0) std::memset(t->raw(), 0, t->nbytes());
    for (std::int64_t g = 0; g < tiles; ++g)
      runtime::schedule(s,
                        Task{TaskKind::gate_gradient_tile, 0, 0, static_cast<std::int32_t>(g), 0});
    if (tiles == 0) runtime::schedule(s, Task{TaskKind::announce_gradients});
  }

  void run_pass(PassKind pass) {
    ++epoch_;
    world_->begin_pass();
    const std::vector<int>& ranks = world_->local_ranks();
    for (const int r : ranks) prepare_rank(r, pass);
    world_->fence_after_reset();
    const double timeout = config_.wait_timeout_s;
    const bool tracing = !options_.trace_path.empty();
    const std::int64_t start = platform::steady_now_ns();
    if (trace_origin_ns_ == 0) trace_origin_ns_ = start;
    platform::run_worker_threads(
        static_cast<int>(ranks.size()), workers_,
        [&](int index, int worker) {
          const int rank = ranks[static_cast<std::size_t>(index)];
          PerRank& own = per_rank_[static_cast<std::size_t>(rank)];
          std::byte* scratch =
              static_cast<std::byte*>(own.scratch[static_cast<std::size_t>(worker)].raw());
          const runtime::WorkerScratch<T> views{
              reinterpret_cast<Acc*>(scratch),
              reinterpret_cast<T*>(scratch + layout_.scratch_row_offset)};
          try {
            platform::run_worker(own.state, pass, views, timeout, worker, tracing,
                                 own.stats[static_cast<std::size_t>(worker)]);
          } catch (...) {
            world_->raise_abort();
            throw;
          }
        },
        world_->abort_flag());
    world_->check_pass_complete();
    const double wall = static_cast<double>(platform::steady_now_ns() - start) * 1e-9;
    const std::string prefix = pass == PassKind::forward ? "forward" : "backward";
    results_.seconds[prefix] += wall;
    for (PerRank& own : per_rank_) {
      for (platform::WorkerStats& stats : own.stats) {
        for (int kind = 0; kind < runtime::kTaskKinds; ++kind) {
          const double seconds = stats.task_seconds[static_cast<std::size_t>(kind)];
          if (seconds > 0.0)
            results_.seconds[prefix + "." + runtime::task_name(static_cast<TaskKind>(kind))] +=
                seconds;
        }
        results_.seconds[prefix + ".subscriber"] += stats.subscriber_seconds;
        results_.seconds[prefix + ".idle"] += stats.idle_seconds;
        trace_events_.insert(trace_events_.end(), stats.events.begin(), stats.events.end());
        stats = platform::WorkerStats{};
      }
    }
    if (tracing) platform::write_chrome_trace(options_.trace_path, trace_events_, trace_origin_ns_);
  }

  void collect_routing() {
    const std::int64_t k = config_.top_k, E = config_.experts;
    for (const int r : world_->local_ranks()) {
      const RankState<T>& s = per_rank_[static_cast<std::size_t>(r)].state;
      RankOutputs& out = results_.ranks[static_cast<std::size_t>(r)];
      const std::size_t slots = static_cast<std::size_t>(s.tokens * k);
      if (slots > 0) {  // an empty tensor has no storage to copy into
        std::memcpy(out.routing.topk_index.raw(), s.template own<std::int32_t>(layout_.topk_index),
                    slots * sizeof(std::int32_t));
        std::memcpy(out.routing.topk_weight.raw(), s.template own<Acc>(layout_.topk_weight),
                    slots * sizeof(Acc));
        std::memcpy(out.routing.kept.raw(), s.template own<std::uint8_t>(layout_.kept), slots);
      }
      const std::int64_t* routed = s.template own<std::int64_t>(layout_.routed);
      const std::int64_t* accepted = s.template own<std::int64_t>(layout_.accepted);
      out.routing.routed.assign(routed, routed + E);
      out.routing.accepted.assign(accepted, accepted + E);
      out.aux_loss = s.control().aux_loss;
      out.z_loss = s.control().z_loss;
    }
  }

  const Problem& problem_;
  EngineOptions options_;
  Config config_;
  int world_size_;
  WorkspaceLayout layout_;
  std::unique_ptr<runtime::LayerWorld> world_;
  int workers_;  // after world_: the default depends on how many ranks share this node
  std::vector<Acc> wg_acc_;
  std::vector<PerRank> per_rank_;
  Results results_;
  std::uint32_t epoch_ = 0;
  bool forward_done_ = false;
  std::vector<platform::TraceEvent> trace_events_;
  std::int64_t trace_origin_ns_ = 0;
};

std::unique_ptr<InProcessLayer::Impl> make_impl(const Problem& problem, EngineOptions options,
                                                const runtime::LayerWorldFactory& world) {
  // Each local rank's inputs are checked once the world (which says which are local) exists.
  validate(problem.config, problem.world_size);
  FLASHMOE_CHECK(options.workers_per_rank >= 0, "workers_per_rank = ", options.workers_per_rank,
                 ": allowed are 0 (automatic) or a positive count");
  FLASHMOE_CHECK(
      problem.world_size <= 32767 && problem.config.local_experts(problem.world_size) <= 32767,
      "engine: world_size = ", problem.world_size,
      " and experts per rank = ", problem.config.local_experts(problem.world_size),
      " must be ≤ 32767");
  switch (problem.config.dtype) {
    case DType::fp64:
      return std::make_unique<LayerImpl<double>>(problem, std::move(options), world);
    case DType::fp32:
      return std::make_unique<LayerImpl<float>>(problem, std::move(options), world);
    case DType::bf16:
      return std::make_unique<LayerImpl<bfloat16>>(problem, std::move(options), world);
    case DType::fp16:
      break;
  }
  FLASHMOE_FAIL("dtype = ", to_string(problem.config.dtype),
                " is not supported by the cpu engine (allowed: fp64, fp32, bf16)");
}

}  // namespace

InProcessLayer::InProcessLayer(const Problem& problem, EngineOptions options)
    : InProcessLayer(problem, std::move(options), [&problem](std::size_t symmetric_bytes) {
        return std::make_unique<runtime::LocalLayerWorld>(problem.world_size, symmetric_bytes);
      }) {}
InProcessLayer::InProcessLayer(const Problem& problem, EngineOptions options,
                               const runtime::LayerWorldFactory& world)
    : impl_(make_impl(problem, std::move(options), world)) {}
InProcessLayer::~InProcessLayer() = default;
void InProcessLayer::forward() {
  impl_->forward();
}
void InProcessLayer::backward() {
  impl_->backward();
}
const Results& InProcessLayer::results() const {
  return impl_->results();
}
const runtime::WorkspaceLayout& InProcessLayer::layout() const {
  return impl_->layout();
}
const std::byte* InProcessLayer::symmetric_buffer(int rank) const {
  return impl_->symmetric_buffer(rank);
}

Results run_in_process(const Problem& problem, const EngineOptions& options) {
  InProcessLayer layer(problem, options);
  layer.forward();
  if (problem.backward) layer.backward();
  return layer.results();
}

}  // namespace flashmoe::engine
