// MpiBaselineLayer: the baseline's phases for this process's rank and its local experts, with
// the all-to-all done by MPI collectives on the calling thread between the pool's phases.
//
// Buffers (rows of H elements):
//   send_rows  [Σ accepted]  this rank's routed rows in expert order (pack_x_block/pack_dy_block):
//              the rows for rank d's experts are contiguous, so they go out as one block per d;
//   staging    [source r][local expert l][row]  what the all-to-all delivers; copied into each
//              expert's contiguous rows (ExpertState::x or dy, ordered by source) for its
//              GEMMs, the conventional "permute" step; on the way back each expert's y or dx
//              rows are copied into the same layout and sent back the same way;
//   y_rows / dx_rows  [Σ accepted]  the returned rows, in send_rows order: owner d's block
//              arrives in place, because its local experts are d's block of the expert order.
#include "bench/mpi/mpi_baseline.hpp"

#include <climits>
#include <cstring>
#include <thread>

#include "bench/baseline_state.hpp"
#include "bench/phase_blocks.hpp"
#include "bench/timing.hpp"
#include "flashmoe/error.hpp"
#include "transport/mpi/mpi_check.hpp"
#include "transport/mpi/mpi_session.hpp"

namespace flashmoe::bench {
namespace {

using detail::AccOf;
using detail::BaselineState;
using detail::blocks;
using detail::for_blocks;
using detail::kTokenBlock;

int as_count(std::int64_t value, const char* what) {
  FLASHMOE_CHECK(value >= 0 && value <= INT_MAX, "MPI baseline: ", what, " = ", value,
                 " does not fit an MPI count");
  return static_cast<int>(value);
}

// A committed MPI datatype for one row of `bytes` bytes, so that counts are in rows and stay far
// below MPI's int limit however large H is.
class RowType {
 public:
  explicit RowType(std::size_t bytes) {
    FLASHMOE_MPI(MPI_Type_contiguous(as_count(static_cast<std::int64_t>(bytes), "row bytes"),
                                     MPI_BYTE, &type_));
    FLASHMOE_MPI(MPI_Type_commit(&type_));
  }
  ~RowType() { MPI_Type_free(&type_); }
  RowType(const RowType&) = delete;
  RowType& operator=(const RowType&) = delete;
  MPI_Datatype get() const { return type_; }

 private:
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
};

// A duplicate of the caller's communicator with errors returned, not fatal: the baseline's
// collectives never match the caller's, and a failure names the MPI call.
class OwnComm {
 public:
  explicit OwnComm(MPI_Comm comm) {
    FLASHMOE_MPI(MPI_Comm_dup(comm, &comm_));
    FLASHMOE_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  }
  ~OwnComm() { MPI_Comm_free(&comm_); }
  OwnComm(const OwnComm&) = delete;
  OwnComm& operator=(const OwnComm&) = delete;
  MPI_Comm get() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

// Who sends how many rows to whom in one pass (the same plan serves forward and backward: the
// routing is the forward's). Counts and offsets in rows.
struct ExchangePlan {
  std::vector<int> send_rows, send_first;  // [W] to each owner, from send_rows
  std::vector<int> recv_rows, recv_first;  // [W] from each source, into the staging buffer
  std::vector<std::int64_t> received;      // [W·L] rows from source r for local expert l
  std::vector<std::int64_t> staging_row;   // [W·L] where those rows start in the staging buffer
};

template <typename T>
class MpiBaselineImpl final : public BaselineLayer::Impl {
  using Acc = AccOf<T>;

 public:
  MpiBaselineImpl(MPI_Comm comm, const Problem& problem, int workers)
      : comm_(comm),
        problem_(problem),
        pool_(workers),
        input_row_(static_cast<std::size_t>(problem.config.hidden) * sizeof(T)),
        output_row_(static_cast<std::size_t>(problem.config.hidden) * sizeof(Acc)) {
    FLASHMOE_MPI(MPI_Comm_rank(comm_.get(), &rank_));
    FLASHMOE_MPI(MPI_Comm_size(comm_.get(), &world_size_));
    FLASHMOE_CHECK(world_size_ == problem.world_size, "MPI baseline: the job has ", world_size_,
                   " processes, the problem ", problem.world_size, " ranks");
    local_experts_ = problem.config.local_experts(world_size_);
    first_expert_ = rank_ * local_experts_;
    results.ranks.resize(static_cast<std::size_t>(world_size_));
  }

  void forward() override {
    validate_problem_rank(problem_, rank_);
    detail::set_up_shapes(s_, problem_);
    detail::set_up_rank(s_, rank_);
    for (std::int64_t l = 0; l < local_experts_; ++l) detail::set_up_expert(s_, first_expert_ + l);
    results.seconds.clear();
    exchange_seconds_ = 0.0;
    const Clock::time_point start = Clock::now();
    const auto token_blocks = blocks({s_.ranks[own()].tokens}, kTokenBlock);
    const bool keep = problem_.backward;

    Clock::time_point phase = Clock::now();
    for_blocks(pool_, token_blocks,
               [&](std::int64_t, std::int64_t t0) { detail::gate_forward_block(s_, rank_, t0); });
    detail::route_rank(s_, rank_);
    results.seconds["forward.gate"] = seconds_since(phase);

    phase = Clock::now();
    for_blocks(pool_, token_blocks,
               [&](std::int64_t, std::int64_t t0) { detail::pack_x_block(s_, rank_, t0); });
    plan_exchange();
    send_rows_to_owners(/*backward=*/false);
    results.seconds["forward.dispatch"] = seconds_since(phase);

    phase = Clock::now();
    detail::expert_forward_phase(s_, pool_, first_expert_, local_experts_, keep);
    results.seconds["forward.expert_gemm"] = seconds_since(phase);

    phase = Clock::now();
    return_rows_to_sources(/*backward=*/false);
    for_blocks(pool_, token_blocks,
               [&](std::int64_t, std::int64_t t0) { detail::combine_block(s_, rank_, t0); });
    results.seconds["forward.combine"] = seconds_since(phase);
    results.seconds["forward.exchange"] = exchange_seconds_;
    results.seconds["forward"] = seconds_since(start);
    detail::store_forward_outputs(s_, rank_, results.ranks[own()]);
    forward_done_ = true;
  }

  void backward() override {
    FLASHMOE_CHECK(forward_done_ && problem_.backward,
                   "MPI baseline: backward needs a forward() of a problem with backward = true");
    const Clock::time_point start = Clock::now();
    exchange_seconds_ = 0.0;
    RankOutputs& outputs = results.ranks[own()];
    detail::set_up_gate_backward(s_);
    detail::set_up_rank_backward(s_, rank_, outputs);
    for (std::int64_t l = 0; l < local_experts_; ++l)
      detail::set_up_expert_backward(s_, first_expert_ + l, outputs);
    const auto token_blocks = blocks({s_.ranks[own()].tokens}, kTokenBlock);

    Clock::time_point phase = Clock::now();
    for_blocks(pool_, token_blocks,
               [&](std::int64_t, std::int64_t t0) { detail::pack_dy_block(s_, rank_, t0); });
    send_rows_to_owners(/*backward=*/true);
    results.seconds["backward.dispatch"] = seconds_since(phase);

    phase = Clock::now();
    detail::expert_backward_phase(s_, pool_, first_expert_, local_experts_);
    results.seconds["backward.expert_gemm"] = seconds_since(phase);

    phase = Clock::now();
    detail::expert_weight_gradient_phase(s_, pool_, first_expert_, local_experts_);
    results.seconds["backward.weight_gemm"] = seconds_since(phase);

    phase = Clock::now();
    return_rows_to_sources(/*backward=*/true);
    for_blocks(pool_, token_blocks,
               [&](std::int64_t, std::int64_t t0) { detail::gate_backward_block(s_, rank_, t0); });
    detail::gate_weight_gradient(s_, rank_);
    results.seconds["backward.combine"] = seconds_since(phase);
    results.seconds["backward.exchange"] = exchange_seconds_;
    results.seconds["backward"] = seconds_since(start);
    detail::store_backward_outputs(s_, rank_, outputs);
  }

 private:
  std::size_t own() const { return static_cast<std::size_t>(rank_); }

  // The row counts every owner receives (MPI_Alltoall), the plan, and the local experts' sizes.
  void plan_exchange() {
    const std::int64_t W = world_size_, L = local_experts_;
    const auto& me = s_.ranks[own()];
    ExchangePlan& p = plan_;
    p.received.assign(static_cast<std::size_t>(W * L), 0);
    timed_exchange([&] {
      FLASHMOE_MPI(MPI_Alltoall(me.accepted.data(), static_cast<int>(L), MPI_INT64_T,
                                p.received.data(), static_cast<int>(L), MPI_INT64_T, comm_.get()));
    });
    p.send_rows.assign(static_cast<std::size_t>(W), 0);
    p.send_first.assign(static_cast<std::size_t>(W), 0);
    p.recv_rows.assign(static_cast<std::size_t>(W), 0);
    p.recv_first.assign(static_cast<std::size_t>(W), 0);
    p.staging_row.assign(static_cast<std::size_t>(W * L), 0);
    std::int64_t staged = 0;
    for (std::int64_t r = 0; r < W; ++r) {
      const auto d = static_cast<std::size_t>(r);
      p.send_first[d] = as_count(me.packet_offset[d * static_cast<std::size_t>(L)], "rows sent");
      p.send_rows[d] = as_count(me.packet_offset[(d + 1) * static_cast<std::size_t>(L)] -
                                    me.packet_offset[d * static_cast<std::size_t>(L)],
                                "rows sent");
      p.recv_first[d] = as_count(staged, "rows received");
      // The other ranks' accepted counts, as far as this rank's experts are concerned: what
      // size_expert reads to lay out each expert's rows by source.
      auto& source = s_.ranks[d];
      if (r != rank_) source.accepted.assign(static_cast<std::size_t>(s_.experts), 0);
      for (std::int64_t l = 0; l < L; ++l) {
        const auto i = static_cast<std::size_t>(r * L + l);
        p.staging_row[i] = staged;
        staged += p.received[i];
        source.accepted[static_cast<std::size_t>(first_expert_ + l)] = p.received[i];
      }
      p.recv_rows[d] = as_count(staged - p.recv_first[d], "rows received");
    }
    input_staging_.assign(static_cast<std::size_t>(staged * s_.hidden), T{});
    output_staging_.assign(static_cast<std::size_t>(staged * s_.hidden), Acc(0));
    for (std::int64_t l = 0; l < L; ++l) detail::size_expert(s_, first_expert_ + l);
  }

  // send_rows (x or dy) to the owners; each local expert's rows into its contiguous buffer.
  void send_rows_to_owners(bool backward) {
    const ExchangePlan& p = plan_;
    const auto& me = s_.ranks[own()];
    timed_exchange([&] {
      FLASHMOE_MPI(MPI_Alltoallv(me.send_rows.data(), p.send_rows.data(), p.send_first.data(),
                                 input_row_.get(), input_staging_.data(), p.recv_rows.data(),
                                 p.recv_first.data(), input_row_.get(), comm_.get()));
    });
    pool_.parallel_for(local_experts_, [&](std::int64_t l) {
      auto& ex = s_.experts_state[static_cast<std::size_t>(first_expert_ + l)];
      T* rows = backward ? ex.dy.data() : ex.x.data();
      copy_expert_rows(l, [&](std::int64_t staging, std::int64_t expert_row, std::int64_t count) {
        std::memcpy(rows + expert_row * s_.hidden, input_staging_.data() + staging * s_.hidden,
                    static_cast<std::size_t>(count * s_.hidden) * sizeof(T));
      });
    });
  }

  // Each local expert's y or dx rows back to their source ranks, into y_rows or dx_rows.
  void return_rows_to_sources(bool backward) {
    const ExchangePlan& p = plan_;
    pool_.parallel_for(local_experts_, [&](std::int64_t l) {
      const auto& ex = s_.experts_state[static_cast<std::size_t>(first_expert_ + l)];
      const Acc* rows = backward ? ex.dx.data() : ex.y.data();
      copy_expert_rows(l, [&](std::int64_t staging, std::int64_t expert_row, std::int64_t count) {
        std::memcpy(output_staging_.data() + staging * s_.hidden, rows + expert_row * s_.hidden,
                    static_cast<std::size_t>(count * s_.hidden) * sizeof(Acc));
      });
    });
    auto& me = s_.ranks[own()];
    Acc* returned = backward ? me.dx_rows.data() : me.y_rows.data();
    timed_exchange([&] {
      FLASHMOE_MPI(MPI_Alltoallv(output_staging_.data(), p.recv_rows.data(), p.recv_first.data(),
                                 output_row_.get(), returned, p.send_rows.data(),
                                 p.send_first.data(), output_row_.get(), comm_.get()));
    });
  }

  // copy(staging row, expert row, count) for each source's block of local expert l.
  template <typename Copy>
  void copy_expert_rows(std::int64_t l, Copy&& copy) const {
    const auto& ex = s_.experts_state[static_cast<std::size_t>(first_expert_ + l)];
    for (std::int64_t r = 0; r < world_size_; ++r) {
      const auto i = static_cast<std::size_t>(r * local_experts_ + l);
      if (plan_.received[i] > 0)
        copy(plan_.staging_row[i], ex.source_offset[static_cast<std::size_t>(r)],
             plan_.received[i]);
    }
  }

  template <typename Fn>
  void timed_exchange(Fn&& fn) {
    const Clock::time_point start = Clock::now();
    fn();
    exchange_seconds_ += seconds_since(start);
  }

  OwnComm comm_;
  const Problem& problem_;
  BaselineState<T> s_;
  ThreadPool pool_;
  RowType input_row_, output_row_;
  int rank_ = 0, world_size_ = 0;
  std::int64_t local_experts_ = 0, first_expert_ = 0;
  ExchangePlan plan_;
  std::vector<T> input_staging_;     // [source][local expert][row] x or dy rows
  std::vector<Acc> output_staging_;  // the same layout, y or dx rows on their way back
  double exchange_seconds_ = 0.0;
  bool forward_done_ = false;
};

}  // namespace

BaselineLayer make_mpi_baseline(MPI_Comm comm, const Problem& problem,
                                const BaselineOptions& options) {
  validate(problem.config, problem.world_size);
  FLASHMOE_CHECK(options.workers_per_rank >= 0,
                 "MPI baseline: workers_per_rank = ", options.workers_per_rank,
                 ", must be ≥ 0 (0 chooses)");
  const int hardware = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int workers = options.workers_per_rank > 0
                          ? options.workers_per_rank
                          : std::max(1, hardware / transport::processes_on_this_node(comm));
  return BaselineLayer(detail::make_for_dtype<MpiBaselineImpl>("MPI baseline", problem.config.dtype,
                                                               comm, problem, workers));
}

}  // namespace flashmoe::bench
