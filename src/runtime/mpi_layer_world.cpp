#include "runtime/mpi_layer_world.hpp"

#include <atomic>
#include <exception>
#include <memory>
#include <vector>

#include "flashmoe/error.hpp"
#include "transport/mpi/config_handshake.hpp"
#include "transport/mpi/mpi_session.hpp"
#include "transport/mpi/mpi_world.hpp"
#include "transport/remote_transport.hpp"

namespace flashmoe::engine {
namespace {

// The view's route to the other processes: MpiTransportView's operations (whose header gives
// the memory-ordering argument) behind the host-only hook.
class MpiRemote final : public transport::RemoteTransport {
 public:
  explicit MpiRemote(transport::MpiTransportView view) : view_(view) {}
  void put(int dest_rank, std::size_t offset, const void* source,
           std::size_t bytes) const override {
    view_.put(dest_rank, offset, source, bytes);
  }
  void signal_store(int dest_rank, std::size_t offset, std::uint64_t value) const override {
    view_.signal_store(dest_rank, offset, value);
  }
  void signal_add(int dest_rank, std::size_t offset, std::uint64_t value) const override {
    view_.signal_add(dest_rank, offset, value);
  }
  std::uint64_t poll(std::size_t offset) const override { return view_.poll(view_.rank, offset); }
  bool aborted() const override { return view_.aborted(); }
  const transport::MpiTransportView& view() const { return view_; }

 private:
  transport::MpiTransportView view_;
};

class MpiLayerWorld final : public runtime::LayerWorld {
 public:
  MpiLayerWorld(MPI_Comm comm, std::size_t symmetric_bytes, double call_limit_s)
      : world_(comm, symmetric_bytes, call_limit_s),
        ranks_on_node_(transport::processes_on_this_node(world_.comm())),
        remote_(world_.view()),
        ranks_{world_.rank()},
        buffers_(static_cast<std::size_t>(world_.world_size()), nullptr) {
    // Only the own buffer is addressable (at() on the own rank); the rest stay null.
    buffers_[static_cast<std::size_t>(world_.rank())] = world_.local_buffer();
  }
  // A failed rank must not block in the window's collective teardown on peers that stalled;
  // run_mpi_program ends the job instead.
  ~MpiLayerWorld() override {
    if (failed_.load()) world_.abandon();
  }

  int world_size() const override { return world_.world_size(); }
  const std::vector<int>& local_ranks() const override { return ranks_; }
  int ranks_on_this_node() const override { return ranks_on_node_; }
  std::byte* buffer(int rank) override {
    FLASHMOE_CHECK(rank == world_.rank(), "MPI engine: rank ", world_.rank(), " asked for rank ",
                   rank, "'s buffer, which lives in another process");
    return world_.local_buffer();
  }
  transport::TransportView view(int /*rank*/) override {
    return {buffers_.data(), world_.world_size(), &abort_flag_, &remote_};
  }
  std::uint32_t& abort_flag() override { return abort_flag_; }
  void begin_pass() override {
    abort_flag_ = 0;
    world_.clear_abort();
  }
  void fence_after_reset() override { world_.pass_fence(); }
  void raise_abort() override {
    failed_ = true;
    // Best effort: the local error being reported matters more than an MPI error here (a
    // flush towards a dead peer may fail).
    try {
      remote_.view().raise_abort();
    } catch (const std::exception&) {
    }
  }
  void check_pass_complete() override {
    const int origin = remote_.view().abort_origin();
    if (origin < 0) return;
    failed_ = true;
    throw PeerAbortError(detail::concat("rank ", world_.rank(), " of ", world_.world_size(),
                                        ": the pass stopped because rank ", origin,
                                        " raised abort (that rank reports its error)"));
  }

 private:
  transport::MpiWorld world_;
  int ranks_on_node_;  // one rank per process; counted once, collectively, at creation
  MpiRemote remote_;
  std::vector<int> ranks_;
  std::vector<std::byte*> buffers_;
  std::uint32_t abort_flag_ = 0;
  std::atomic<bool> failed_{false};  // set by any worker thread that fails
};

}  // namespace

runtime::LayerWorldFactory mpi_layer_world(MPI_Comm comm, double call_limit_s) {
  return [comm, call_limit_s](std::size_t symmetric_bytes) {
    return std::make_unique<MpiLayerWorld>(comm, symmetric_bytes, call_limit_s);
  };
}

Results run_mpi_rank(MPI_Comm comm, const Problem& problem, const EngineOptions& options) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  FLASHMOE_CHECK(size == problem.world_size, "MPI engine: the job has ", size,
                 " processes, the problem ", problem.world_size, " ranks");
  transport::check_same_config(comm, problem.config);
  InProcessLayer layer(problem, options, mpi_layer_world(comm, problem.config.wait_timeout_s));
  layer.forward();
  if (problem.backward) layer.backward();
  return layer.results();
}

}  // namespace flashmoe::engine
