#include "cli/run_mpi.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include "backends/backends.hpp"
#include "cli/exit_codes.hpp"
#include "cli/mpi_arguments.hpp"
#include "cli/mpi_gather.hpp"
#include "cli/run_options.hpp"
#include "cli/run_summary.hpp"
#include "cli/usage_error.hpp"
#include "engine/mpi_layer.hpp"
#include "flashmoe/error.hpp"
#include "io/run_layout.hpp"
#include "io/save_folder.hpp"
#include "transport/mpi/mpi_check.hpp"
#include "transport/mpi/mpi_program.hpp"
#include "transport/mpi/mpi_session.hpp"

namespace flashmoe::cli {
namespace {

// Test-only hooks (tests/mpi/CMakeLists.txt), read from the environment so that one rank of a
// job can be made to differ — which no command line shared by every rank can express:
//   FLASHMOE_TEST_RANK_TOP_K=r:k             rank r uses top_k = k (a configuration mismatch);
//   FLASHMOE_TEST_DROP_DISPATCH_FROM_RANK=r  rank r never sends its dispatch packets (a stall);
//   FLASHMOE_TEST_KILL_AFTER_DISPATCH_FROM_RANK=r  rank r's process SIGKILLs itself right after
//                                            raising its dispatch signals (a death mid-pass);
//   FLASHMOE_TEST_SLOW_AFTER_DISPATCH=r:s    rank r sleeps s seconds right after raising its
//                                            dispatch signals (a pass that surely lasts s
//                                            seconds, for the network fault tests).
// A hook's value "RANK:VALUE", split at the colon; `shape` names the parts for the error.
std::pair<std::string, std::string> split_rank_hook(const char* name, const char* value,
                                                    const char* shape) {
  const std::string text(value);
  const std::size_t colon = text.find(':');
  FLASHMOE_CHECK(colon != std::string::npos, name, "=", text, ": expected ", shape);
  return {text.substr(0, colon), text.substr(colon + 1)};
}

void apply_test_hooks(int rank, Problem& problem, engine::EngineOptions& options) {
  if (const char* value = std::getenv("FLASHMOE_TEST_RANK_TOP_K")) {
    const auto [hook_rank, top_k] =
        split_rank_hook("FLASHMOE_TEST_RANK_TOP_K", value, "RANK:TOP_K");
    if (std::stoi(hook_rank) == rank) problem.config.top_k = std::stoi(top_k);
  }
  if (const char* value = std::getenv("FLASHMOE_TEST_DROP_DISPATCH_FROM_RANK"))
    options.faults.drop_dispatch_from_rank = std::stoi(value);
  if (const char* value = std::getenv("FLASHMOE_TEST_KILL_AFTER_DISPATCH_FROM_RANK"))
    options.faults.die_after_dispatch_from_rank = std::stoi(value);
  if (const char* value = std::getenv("FLASHMOE_TEST_SLOW_AFTER_DISPATCH")) {
    const auto [slow_rank, seconds] =
        split_rank_hook("FLASHMOE_TEST_SLOW_AFTER_DISPATCH", value, "RANK:SECONDS");
    options.faults.slow_rank = std::stoi(slow_rank);
    options.faults.slow_seconds = std::stod(seconds);
    options.faults.slow_at = runtime::FaultInjection::SlowAt::after_dispatch_signals;
  }
}

// --save under MPI (io/save_folder.hpp): every process writes its rank into the staging folder,
// then the parts are moved into place, rank 0's meta.json last. Every process takes part (the
// options handshake made --save the same everywhere); a failing step ends the job on every
// rank (run_mpi_program), so no rank moves its part into a folder another failed to fill.
void save_rank_whole(MPI_Comm comm, const RunRequest& request, const std::string& backend,
                     const Results& own, int rank, int size) {
  const std::filesystem::path& dir = *request.save_dir;
  const io::RunMeta meta = io::meta_of(request.problem, request.tokens, backend);
  if (rank == 0) io::begin_staging(dir);
  FLASHMOE_MPI(MPI_Barrier(comm));
  const std::filesystem::path staging = io::staging_folder(dir);
  if (rank == 0) io::save_meta(staging, meta, request.problem.wg);
  io::save_rank(staging, meta, rank, request.problem.ranks[static_cast<std::size_t>(rank)],
                own.ranks[static_cast<std::size_t>(rank)]);
  FLASHMOE_MPI(MPI_Barrier(comm));
  if (rank == 0) io::retire_meta(dir);
  FLASHMOE_MPI(MPI_Barrier(comm));
  io::publish_rank(dir, rank);
  FLASHMOE_MPI(MPI_Barrier(comm));
  if (rank == 0) io::publish_meta(dir, size);
}

int run_rank(const ParsedArgs& args, transport::MpiSession& session) {
  const int rank = session.rank(), size = session.world_size();
  check_same_arguments(session.comm(), args, "run options");
  if (const auto ranks = args.value("ranks");
      ranks && parse_integer("--ranks", *ranks, 1, 1024) != size)
    throw UsageError("--ranks " + *ranks + " but the MPI job has " + std::to_string(size) +
                     " processes: under MPI every process is one rank (omit --ranks)");
  // Each process generates (or --load reads) only its own rank's inputs, except rank 0 under
  // --check: the fp64 reference it runs needs every rank's.
  const bool full_problem = rank == 0 && args.flag("check");
  RunRequest request =
      make_run_request(args, size, full_problem ? std::nullopt : std::optional<int>(rank));
  FLASHMOE_CHECK(request.problem.world_size == size, "--load ", request.load_dir.value_or(""),
                 ": the saved run has ", request.problem.world_size, " ranks but the MPI job has ",
                 size, " processes");
  if (request.backend->name != "cpu")
    throw UsageError("under MPI only the cpu engine runs, not the " +
                     std::string(request.backend->name) + " backend");
  if (rank == 0)
    for (const std::string& note : request.notes) std::cerr << "flashmoe: note: " << note << '\n';

  engine::EngineOptions options = backends::engine_options_from(request.backend_options);
  // One trace per process; the ranks' files would otherwise overwrite each other.
  if (!request.backend_options.trace_path.empty())
    options.trace_path = request.backend_options.trace_path + ".rank" + std::to_string(rank);
  apply_test_hooks(rank, request.problem, options);

  const auto start = std::chrono::steady_clock::now();
  Results own = engine::run_mpi_rank(session.comm(), request.problem, options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::string backend(request.backend->name);
  if (request.save_dir) save_rank_whole(session.comm(), request, backend, own, rank, size);
  // Same decision on every rank (same arguments), so the gather is entered by all or none; the
  // summary alone needs only the routing records and losses.
  if (request.quiet && !request.check) return kExitOk;
  const Results all =
      gather_results(session.comm(), std::move(own),
                     request.check ? GatherScope::everything : GatherScope::routing_and_losses);
  if (rank != 0) return kExitOk;
  if (!request.quiet) {
    if (request.load_dir) std::cout << "inputs loaded from " << *request.load_dir << '\n';
    print_summary(std::cout, request.problem, all,
                  backend + " (mpi, " + std::to_string(size) + " processes)", seconds);
    if (request.save_dir) std::cout << "saved to " << *request.save_dir << '\n';
  }
  if (!request.check) return kExitOk;
  return report_check(request, all);
}

}  // namespace

int run_command_mpi(const ParsedArgs& args) {
  return transport::run_mpi_program(
      nullptr, nullptr, [&](transport::MpiSession& session) { return run_rank(args, session); });
}

}  // namespace flashmoe::cli
