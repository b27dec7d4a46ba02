#include "engine/mpi_layer.hpp"

#include <atomic>
#include <exception>
#include <memory>
#include <vector>

#include "engine/layer_impl.hpp"
#include "flashmoe/error.hpp"
#include "transport/mpi/config_handshake.hpp"
#include "transport/mpi/mpi_session.hpp"
#include "transport/mpi/mpi_world.hpp"

namespace flashmoe::engine {
namespace {

// The world of one MPI rank: this process's rank is the only local one.
class MpiLayerWorld {
 public:
  using Transport = transport::MpiTransport;

  MpiLayerWorld(MPI_Comm comm, std::size_t symmetric_bytes, double call_limit_s)
      : world_(comm, symmetric_bytes, call_limit_s),
        ranks_on_node_(transport::processes_on_this_node(world_.comm())),
        ranks_{world_.rank()} {}
  // A failed rank must not block in the window's collective teardown on peers that stalled;
  // run_mpi_program ends the job instead.
  ~MpiLayerWorld() {
    if (failed_) world_.abandon();
  }

  int world_size() const { return world_.world_size(); }
  const std::vector<int>& local_ranks() const { return ranks_; }
  int ranks_on_this_node() const { return ranks_on_node_; }
  std::byte* buffer(int rank) {
    FLASHMOE_CHECK(rank == world_.rank(), "MPI engine: rank ", world_.rank(), " asked for rank ",
                   rank, "'s buffer, which lives in another process");
    return world_.local_buffer();
  }
  Transport transport(int /*rank*/) { return world_.transport(); }
  bool buffers_zeroed() const { return true; }  // MpiWorld zero-fills the window
  // Peers may still be inside the failed pass (nothing here can tell when they left it), so
  // this world runs no further pass.
  void after_failure() { failed_ = true; }
  void check_usable() const {
    FLASHMOE_CHECK(!failed_, "MPI engine: rank ", world_.rank(), " of ", world_.world_size(),
                   ": an earlier pass of this layer failed; its peers may still be inside it, so "
                   "the layer runs no further pass (build a new one)");
  }
  std::exception_ptr peer_abort(int rank, std::uint32_t epoch) const {
    return std::make_exception_ptr(PeerAbortError(detail::concat(
        "rank ", rank, " of ", world_.world_size(), ": the pass stopped because rank ",
        world_.transport().abort_origin(epoch), " raised abort (that rank reports its error)")));
  }

 private:
  transport::MpiWorld world_;
  int ranks_on_node_;  // one rank per process; counted once, collectively, at creation
  std::vector<int> ranks_;
  bool failed_ = false;
};

template <typename T>
std::unique_ptr<Layer::Impl> make_mpi(MPI_Comm comm, const Problem& problem,
                                      EngineOptions options) {
  const double call_limit_s = problem.config.wait_timeout_s;
  return std::make_unique<LayerImpl<T, MpiLayerWorld>>(
      problem, std::move(options), /*local_ranks=*/1,
      [comm, call_limit_s](std::size_t symmetric_bytes) {
        return std::make_unique<MpiLayerWorld>(comm, symmetric_bytes, call_limit_s);
      });
}

}  // namespace

Layer mpi_layer(MPI_Comm comm, const Problem& problem, EngineOptions options) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  FLASHMOE_CHECK(size == problem.world_size, "MPI engine: the job has ", size,
                 " processes, the problem ", problem.world_size, " ranks");
  check_engine_problem(problem);
  transport::check_same_config(comm, problem.config);
  switch (problem.config.dtype) {
    case DType::fp64:
      return Layer(make_mpi<double>(comm, problem, std::move(options)));
    case DType::fp32:
      return Layer(make_mpi<float>(comm, problem, std::move(options)));
    case DType::bf16:
      return Layer(make_mpi<bfloat16>(comm, problem, std::move(options)));
    case DType::fp16:
      break;
  }
  FLASHMOE_FAIL("dtype = fp16 is not supported by the cpu engine (allowed: fp64, fp32, bf16)");
}

Results run_mpi_rank(MPI_Comm comm, const Problem& problem, const EngineOptions& options) {
  Layer layer = mpi_layer(comm, problem, options);
  layer.forward();
  if (problem.backward) layer.backward();
  return layer.results();
}

}  // namespace flashmoe::engine
