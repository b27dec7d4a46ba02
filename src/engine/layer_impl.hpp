// The pass driver of the CPU engine, written once for every world (ranks as threads of this
// process: engine/layer.cpp; one rank per MPI process: engine/mpi_layer.cpp). It owns the local
// ranks' workspaces (rank_workspace.hpp) and the program's threads, submits passes into the
// channel (pass_channel.hpp) with their tensors bound (pass_binding.hpp), and waits for them.
// It never resets, starts or fences anything between passes: the program does all of that
// itself (runtime/program.hpp), which is what lets one rank run into its next pass while a peer
// still finishes the previous one.
//
// A World provides: `using Transport`, world_size(), local_ranks(), ranks_on_this_node(),
// buffer(rank), transport(rank), buffers_zeroed(), after_failure() — what the world needs once
// a pass failed and every pass in flight ended (the in-process world: nothing; MPI: it refuses
// further passes, since its peers may still be inside the failed one) —, check_usable() (throws
// when it refuses) and peer_abort(rank, epoch), the error of a pass another rank aborted.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "common/thread_start.hpp"
#include "common/wait.hpp"
#include "engine/engine.hpp"
#include "engine/memory_footprint.hpp"
#include "engine/participant.hpp"
#include "engine/pass_binding.hpp"
#include "engine/pass_channel.hpp"
#include "engine/rank_workspace.hpp"
#include "flashmoe/error.hpp"
#include "platform/cpu/trace.hpp"
#include "runtime/layer_setup.hpp"

namespace flashmoe::engine {

struct Layer::Impl {
  virtual ~Impl() = default;
  virtual void forward() = 0;
  virtual void backward() = 0;
  virtual const Results& results() const = 0;
  virtual PassTicket submit(runtime::PassKind kind, const Problem& inputs, Results& outputs) = 0;
  virtual void wait(PassTicket ticket) = 0;
  virtual const runtime::WorkspaceLayout& layout() const = 0;
  virtual const std::byte* symmetric_buffer(int rank) const = 0;
};

// The checks every engine layer makes first: the configuration, the world's size limits, the
// dtype (throws naming what is wrong).
void check_engine_problem(const Problem& problem);

// Test hook (FLASHMOE_TEST_FAULT=engine_wrong_gradient, common/test_fault.hpp), called after
// every backward pass of every world: element 0 of the last rank's dw2 (when that rank is in
// `local_ranks`) grows by 1e-5·(‖dw2‖₂ + 1) — ten times scripts/run_gradcheck.py's tolerance,
// far below `flashmoe run --check`'s fp32 one — so the suite can show the distributed gradient
// check catches a small error in one gradient of one rank. A no-op unless requested.
void spoil_gradient_for_test(Results& results, const std::vector<int>& local_ranks);

// `requested`, or for 0 this node's hardware threads shared among the ranks on this node.
inline int choose_workers(int requested, int ranks_on_this_node) {
  if (requested > 0) return requested;
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, hardware / ranks_on_this_node);
}

inline void check_options(const EngineOptions& o) {
  const runtime::TileShape& t = o.tiles;
  FLASHMOE_CHECK(t.token_rows > 0 && t.expert_rows > 0 && t.ffn_columns > 0 &&
                     t.hidden_columns > 0 && t.weight_rows > 0,
                 "engine tiles: every tile size must be positive, got token_rows = ", t.token_rows,
                 ", expert_rows = ", t.expert_rows, ", ffn_columns = ", t.ffn_columns,
                 ", hidden_columns = ", t.hidden_columns, ", weight_rows = ", t.weight_rows);
  FLASHMOE_CHECK(o.workers_per_rank >= 0, "workers_per_rank = ", o.workers_per_rank,
                 ": allowed are 0 (automatic) or a positive count");
  FLASHMOE_CHECK(o.group_size >= 1 && o.group_size <= 64, "group_size = ", o.group_size,
                 ": allowed are 1 to 64 threads per processor group");
  FLASHMOE_CHECK(o.subscribers >= 1 && o.subscribers <= 64, "subscribers = ", o.subscribers,
                 ": allowed are 1 to 64 subscriber partitions per rank");
}

template <typename T, typename World>
class LayerImpl final : public Layer::Impl {
  using Transport = typename World::Transport;
  using Acc = runtime::accumulate_t<T>;

 public:
  using WorldFactory = std::function<std::unique_ptr<World>(std::size_t symmetric_bytes)>;

  // local_ranks: the ranks the world will hold in this process (W in process, 1 under MPI).
  LayerImpl(const Problem& problem, EngineOptions options, int local_ranks,
            const WorldFactory& make_world)
      : problem_(problem), options_(std::move(options)), config_(problem.config) {
    check_options(options_);
    layout_ = make_layout(1);
    check_workspaces_fit(layout_, config_, problem.world_size, local_ranks);
    world_ = make_world(layout_.symmetric_bytes);
    FLASHMOE_CHECK(world_->world_size() == problem.world_size, "engine: the world has ",
                   world_->world_size(), " ranks, the problem ", problem.world_size);
    workers_ = choose_workers(options_.workers_per_rank, world_->ranks_on_this_node());
    layout_ = make_layout(workers_);  // the symmetric area does not depend on the workers
    // Only the local ranks' inputs are read (and checked): a process driving one rank of an MPI
    // job may leave the other entries empty.
    for (const int r : world_->local_ranks()) validate_problem_rank(problem, r);

    settings_.scheduling = options_.scheduling;
    settings_.timeout_ns = static_cast<std::int64_t>(config_.wait_timeout_s * 1e9);
    participants_ = static_cast<int>(runtime::participants(layout_.shape, settings_));
    const runtime::LayerSettings layer = runtime::layer_settings(config_);
    for (const int r : world_->local_ranks()) {
      if (!world_->buffers_zeroed())
        clear_except(world_->buffer(r), layout_.symmetric_bytes, symmetric_data_regions(layout_));
      ranks_.push_back(std::make_unique<RankWorkspace<T, Transport>>(
          r, layout_, layer, options_.faults, world_->transport(r), participants_,
          options_.group_size));
    }
    results_.ranks.resize(static_cast<std::size_t>(problem.world_size));
    channel_ = std::make_unique<PassChannel<T>>(
        kChannelDepth, ranks_.size() * static_cast<std::size_t>(participants_));
    start_program();
  }

  ~LayerImpl() override {
    // Passes in flight end by themselves (every wait of the program is bounded); collect them
    // so that nothing still reads the caller's tensors, then let the threads go.
    for (std::uint64_t e = collected_ + 1; e <= submitted_; ++e) {
      try {
        wait_for_end(e);
      } catch (const std::exception&) {  // a destructor reports nothing; the threads still stop
      }
    }
    channel_->stop();
    team_.reset();
  }

  void forward() override {
    results_.seconds.clear();
    wait(submit(runtime::PassKind::forward, problem_, results_));
  }
  void backward() override {
    std::erase_if(results_.seconds,
                  [](const auto& entry) { return entry.first.starts_with("backward"); });
    wait(submit(runtime::PassKind::backward, problem_, results_));
    spoil_gradient_for_test(results_, world_->local_ranks());
  }
  const Results& results() const override { return results_; }
  const runtime::WorkspaceLayout& layout() const override { return layout_; }
  const std::byte* symmetric_buffer(int rank) const override { return world_->buffer(rank); }

  PassTicket submit(runtime::PassKind kind, const Problem& inputs, Results& outputs) override {
    world_->check_usable();
    check_inputs(kind, inputs);
    const std::uint64_t epoch = submitted_ + 1;
    FLASHMOE_CHECK(epoch < (std::uint64_t{1} << 32), "engine: more than 2^32 − 1 passes");
    // The slot is free once the pass that held it was collected.
    if (epoch > kChannelDepth && collected_ < epoch - kChannelDepth) wait({epoch - kChannelDepth});
    PassSlot<T>& slot = channel_->slot(epoch);
    // Forwards are numbered from 0; a backward reads the rows of the latest one.
    slot.descriptor = {static_cast<std::uint32_t>(epoch), kind,
                       kind == runtime::PassKind::forward ? forwards_ : forwards_ - 1};
    slot.bindings.assign(static_cast<std::size_t>(inputs.world_size), runtime::PassBinding<T>{});
    slot.losses.assign(static_cast<std::size_t>(2 * inputs.world_size), 0.0);
    slot.error = nullptr;
    slot.cancelled = false;
    slot.outputs = &outputs;
    slot.collected = false;
    outputs.ranks.resize(static_cast<std::size_t>(inputs.world_size));
    for (const int r : world_->local_ranks()) {
      const auto i = static_cast<std::size_t>(r);
      slot.bindings[i] = kind == runtime::PassKind::forward
                             ? bind_forward<T>(inputs, outputs.ranks[i], r, &slot.losses[2 * i])
                             : bind_backward<T>(inputs, outputs.ranks[i], r);
    }
    if (kind == runtime::PassKind::forward) {
      ++forwards_;
      forward_tokens_.clear();
      for (const int r : world_->local_ranks()) forward_tokens_.push_back(inputs.tokens(r));
      backward_allowed_ = true;
    } else {
      backward_allowed_ = false;
    }
    submitted_ = epoch;
    channel_->publish(epoch);
    return {epoch};
  }

  void wait(PassTicket ticket) override {
    FLASHMOE_CHECK(ticket.epoch >= 1 && ticket.epoch <= submitted_, "engine: wait for pass ",
                   ticket.epoch, ", but passes 1..", submitted_, " were submitted");
    // Collected in order: a pass's outputs are complete when it and every earlier one ended.
    while (collected_ < ticket.epoch) collect(collected_ + 1);
  }

 private:
  static constexpr std::uint64_t kChannelDepth = 4;

  runtime::WorkspaceLayout make_layout(int processor_groups) const {
    return runtime::WorkspaceLayout::compute(
        runtime::layer_shape(config_, problem_.world_size, sizeof(T), sizeof(Acc), processor_groups,
                             options_.group_size, options_.subscribers),
        options_.tiles);
  }

  void check_inputs(runtime::PassKind kind, const Problem& inputs) const {
    FLASHMOE_CHECK(inputs.world_size == problem_.world_size, "engine: a pass for ",
                   inputs.world_size, " ranks on a layer of ", problem_.world_size);
    const std::string differs = first_differing_field(inputs.config, config_);
    FLASHMOE_CHECK(differs.empty(),
                   "engine: a pass whose configuration differs from the layer's in ", differs);
    for (const int r : world_->local_ranks()) validate_problem_rank(inputs, r);
    if (kind == runtime::PassKind::forward) return;
    FLASHMOE_CHECK(backward_allowed_,
                   "backward: run forward() on this layer first (each forward "
                   "allows one backward)");
    std::size_t i = 0;
    for (const int r : world_->local_ranks()) {
      FLASHMOE_CHECK(inputs.ranks[static_cast<std::size_t>(r)].dout.defined(),
                     "backward: tensor dout (rank ", r, ") is missing");
      FLASHMOE_CHECK(inputs.tokens(r) == forward_tokens_[i], "backward: rank ", r, " has ",
                     inputs.tokens(r), " tokens, its forward had ", forward_tokens_[i]);
      ++i;
    }
  }

  void start_program() {
    const int G = options_.group_size;
    const int processors = workers_;
    const int per_rank = processors * G + (participants_ - processors);
    contexts_.resize(ranks_.size() * static_cast<std::size_t>(participants_));
    for (std::size_t i = 0; i < ranks_.size(); ++i) {
      RankWorkspace<T, Transport>& w = *ranks_[i];
      for (int p = 0; p < participants_; ++p) {
        ParticipantContext<T, Transport>& c =
            contexts_[i * static_cast<std::size_t>(participants_) + static_cast<std::size_t>(p)];
        c.fixed = &w.fixed;
        c.channel = channel_.get();
        c.settings = settings_;
        c.role = p < processors ? runtime::Role{runtime::Role::Kind::processor, p}
                 : p == processors
                     ? runtime::Role{runtime::Role::Kind::scheduler, 0}
                     : runtime::Role{runtime::Role::Kind::subscriber, p - processors - 1};
        c.scratch = p < processors ? w.scratch[static_cast<std::size_t>(p)].get() : nullptr;
        c.rank = w.fixed.rank;
        c.participant = p;
        c.stats_index = i * static_cast<std::size_t>(participants_) + static_cast<std::size_t>(p);
        c.tracing = !options_.trace_path.empty();
        c.timeout_s = config_.wait_timeout_s;
      }
    }
    // Thread `index` of rank i: member m of processor group p (index = p·G + m), or a role.
    team_ = std::make_unique<ThreadTeam>(
        static_cast<int>(ranks_.size()) * per_rank, [this, G, processors, per_rank](int index) {
          const auto i = static_cast<std::size_t>(index / per_rank);
          const int local = index % per_rank;
          const int p = local < processors * G ? local / G : processors + (local - processors * G);
          const int member = local < processors * G ? local % G : 0;
          const int size = local < processors * G ? G : 1;
          const cpu::ThreadGroup group(*ranks_[i]->barriers[static_cast<std::size_t>(p)], member,
                                       size, channel_->completion());
          run_participant(
              contexts_[i * static_cast<std::size_t>(participants_) + static_cast<std::size_t>(p)],
              group);
        });
  }

  // Blocks until every local rank left pass `epoch`. The program's own waits are bounded, so a
  // pass always ends; this bound only catches a program that stopped making progress entirely
  // (a broken invariant on the host, a hung library call).
  void wait_for_end(std::uint64_t epoch) {
    cpu::PassCompletion& completion = channel_->completion();
    std::unique_lock lock(completion.mutex);
    const std::int64_t silence_limit_ns = 3 * settings_.timeout_ns + 10'000'000'000;
    for (;;) {
      bool ended = true;
      std::int64_t latest_progress = 0;
      for (const auto& w : ranks_) {
        runtime::PassWords& words = *w->fixed.template own<runtime::PassWords>(layout_.pass_words);
        if (portable::load_acquire<portable::Scope::system>(words.done_epoch) < epoch)
          ended = false;
        latest_progress =
            std::max(latest_progress,
                     static_cast<std::int64_t>(
                         portable::load_relaxed<portable::Scope::rank>(words.last_progress_ns)));
      }
      if (ended) return;
      if (const std::exception_ptr error = team_->first_error()) std::rethrow_exception(error);
      FLASHMOE_CHECK(latest_progress == 0 || steady_now_ns() - latest_progress < silence_limit_ns,
                     "engine: pass ", epoch, " made no progress for ",
                     static_cast<double>(silence_limit_ns) * 1e-9,
                     " s although its waits are bounded; the program is stuck");
      completion.changed.wait_for(lock, std::chrono::milliseconds(100));
    }
  }

  // Waits for pass `epoch` (the oldest not yet collected) and hands its results to the caller,
  // or throws its error.
  void collect(std::uint64_t epoch) {
    wait_for_end(epoch);
    collected_ = epoch;
    PassSlot<T>& slot = channel_->slot(epoch);
    slot.collected = true;
    if (slot.error) {
      // No pass may start real work while a rank may still be inside the failed one: every
      // pass submitted after it was cancelled; once they all ended, the layer is usable again.
      for (std::uint64_t e = epoch + 1; e <= submitted_; ++e) wait_for_end(e);
      channel_->lift_poison();
      world_->after_failure();
      std::rethrow_exception(slot.error);
    }
    FLASHMOE_CHECK(!slot.cancelled, "engine: pass ", epoch,
                   " was cancelled: an earlier pass of this layer failed");
    for (const auto& w : ranks_)
      if (w->fixed.transport.aborted(static_cast<std::uint32_t>(epoch))) {
        world_->after_failure();
        std::rethrow_exception(
            world_->peer_abort(w->fixed.rank, static_cast<std::uint32_t>(epoch)));
      }
    Results& out = *slot.outputs;
    if (slot.descriptor.kind == runtime::PassKind::forward)
      for (const int r : world_->local_ranks()) {
        out.ranks[static_cast<std::size_t>(r)].aux_loss =
            slot.losses[2 * static_cast<std::size_t>(r)];
        out.ranks[static_cast<std::size_t>(r)].z_loss =
            slot.losses[2 * static_cast<std::size_t>(r) + 1];
      }
    const bool tracing = !options_.trace_path.empty();
    record_pass_seconds(slot, out, tracing ? &trace_events_ : nullptr);
    if (tracing) {
      if (trace_origin_ns_ == 0 && !trace_events_.empty())
        trace_origin_ns_ = trace_events_.front().start_ns;
      platform::write_chrome_trace(options_.trace_path, trace_events_, trace_origin_ns_);
    }
  }

  const Problem& problem_;
  EngineOptions options_;
  Config config_;
  runtime::WorkspaceLayout layout_;
  std::unique_ptr<World> world_;
  int workers_ = 1;
  int participants_ = 1;
  runtime::ProgramSettings settings_;
  std::vector<std::unique_ptr<RankWorkspace<T, Transport>>> ranks_;  // local ranks, ascending
  std::unique_ptr<PassChannel<T>> channel_;
  std::vector<ParticipantContext<T, Transport>> contexts_;
  std::unique_ptr<ThreadTeam> team_;  // last: its threads use everything above
  Results results_;
  std::uint64_t submitted_ = 0, collected_ = 0;
  std::uint32_t forwards_ = 0;
  std::vector<std::int64_t> forward_tokens_;  // local ranks' tokens of the latest forward
  bool backward_allowed_ = false;
  std::vector<platform::TraceEvent> trace_events_;
  std::int64_t trace_origin_ns_ = 0;
};

}  // namespace flashmoe::engine
