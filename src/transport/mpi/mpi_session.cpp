#include "transport/mpi/mpi_session.hpp"

#include <exception>

#include "flashmoe/error.hpp"
#include "transport/mpi/mpi_check.hpp"

namespace flashmoe::transport {

const char* thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE:
      return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
      return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
      return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE:
      return "MPI_THREAD_MULTIPLE";
    default:
      return "an unknown thread level";
  }
}

MpiSession::MpiSession(int* argc, char*** argv) : uncaught_at_start_(std::uncaught_exceptions()) {
  int initialized = 0;
  FLASHMOE_MPI(MPI_Initialized(&initialized));
  int provided = MPI_THREAD_SINGLE;
  if (initialized == 0) {
    FLASHMOE_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
    owns_mpi_ = true;
  } else {
    FLASHMOE_MPI(MPI_Query_thread(&provided));
  }
  // From here on MPI failures return codes (turned into exceptions) instead of killing the job
  // from inside MPI with no word on which call failed. An adopted MPI keeps its owner's handler.
  if (owns_mpi_) FLASHMOE_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  FLASHMOE_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  FLASHMOE_MPI(MPI_Comm_size(MPI_COMM_WORLD, &world_size_));
  FLASHMOE_CHECK(provided >= MPI_THREAD_MULTIPLE, "MPI transport: rank ", rank_,
                 ": the MPI library provides ", thread_level_name(provided),
                 ", but the engine's worker threads call MPI concurrently and need "
                 "MPI_THREAD_MULTIPLE (use an MPI built with thread support, e.g. Open MPI ≥ 3 or "
                 "MPICH with --enable-threads=multiple)");
}

MpiSession::~MpiSession() {
  if (!owns_mpi_ || std::uncaught_exceptions() > uncaught_at_start_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized == 0) MPI_Finalize();  // errors here have nobody left to report to
}

int processes_on_this_node(MPI_Comm comm) {
  MPI_Comm node = MPI_COMM_NULL;
  FLASHMOE_MPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  int size = 1;
  const int code = MPI_Comm_size(node, &size);
  MPI_Comm_free(&node);
  FLASHMOE_MPI(code);
  return size;
}

}  // namespace flashmoe::transport
