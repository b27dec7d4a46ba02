#include "transport/mpi/mpi_program.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <thread>

#include "flashmoe/error.hpp"

namespace flashmoe::transport {
namespace {

constexpr std::chrono::seconds kPeerReportGrace{2};

// Reports on stderr (flushed: the launcher may kill this process right after) and ends the
// whole job. Never returns.
[[noreturn]] void report_and_abort(const char* kind, const char* message, int status) {
  int initialized = 0, finalized = 0, rank = -1, world_size = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  const bool mpi_alive = initialized != 0 && finalized == 0;
  if (mpi_alive) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  }
  std::fprintf(stderr, "flashmoe rank %d of %d: %s: %s\n", rank, world_size, kind, message);
  std::fflush(stderr);
  if (mpi_alive) MPI_Abort(MPI_COMM_WORLD, status);
  std::_Exit(status);  // MPI_Abort does not return; without MPI there is no job to end
}

}  // namespace

int run_mpi_program(int* argc, char*** argv, const std::function<int(MpiSession&)>& body) {
  // A rank that writes to the socket of a peer that has died gets SIGPIPE, whose default action
  // kills it at once: the launcher then sometimes reports this rank's "Broken pipe" as the
  // job's end instead of the peer's death (seen: 1 of 15 runs of a rank killed mid-pass). Ignored,
  // the write fails with EPIPE, MPI or this rank's bounded wait reports it, and the launcher
  // names the rank that died. Only the process's top level may decide this; it is that.
  std::signal(SIGPIPE, SIG_IGN);
  std::optional<MpiSession> session;
  try {
    session.emplace(argc, argv);
    const int status = body(*session);
    if (status != 0)
      report_and_abort("exit", "the rank's program returned a failure status", status);
    session.reset();  // MPI_Finalize
    return 0;
  } catch (const PeerAbortError& error) {
    // The rank that failed first prints its cause and ends the job itself; aborting at once
    // from here could kill it before its report is out. Wait a bounded grace period instead,
    // then end the job in case that rank cannot.
    std::this_thread::sleep_for(kPeerReportGrace);
    report_and_abort("Error", error.what(), 1);
  } catch (const TimeoutError& error) {
    report_and_abort("TimeoutError", error.what(), 1);
  } catch (const Error& error) {
    report_and_abort("Error", error.what(), 1);
  } catch (const std::exception& error) {
    report_and_abort("exception", error.what(), 1);
  } catch (...) {
    report_and_abort("exception", "an exception that is not a std::exception", 1);
  }
}

}  // namespace flashmoe::transport
