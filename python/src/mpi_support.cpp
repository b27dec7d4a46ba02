#include "mpi_support.hpp"

#include <memory>

#include "errors.hpp"

#if FLASHMOE_PYTHON_HAVE_MPI
#include "transport/mpi/mpi_session.hpp"
#endif

namespace flashmoe::python {

#if FLASHMOE_PYTHON_HAVE_MPI
namespace {
std::unique_ptr<transport::MpiSession>& session() {
  static std::unique_ptr<transport::MpiSession> instance;
  return instance;
}

// flashmoe's own duplicate of MPI_COMM_WORLD, so that its collectives never match the caller's.
MPI_Comm& own_comm() {
  static MPI_Comm comm = MPI_COMM_NULL;
  return comm;
}
}  // namespace

MPI_Comm layer_comm() {
  mpi_world();
  MPI_Comm& comm = own_comm();
  if (comm == MPI_COMM_NULL && MPI_Comm_dup(MPI_COMM_WORLD, &comm) != MPI_SUCCESS)
    throw Error("MPI_Comm_dup(MPI_COMM_WORLD) failed");
  return comm;
}

std::pair<int, int> mpi_world() {
  auto& s = session();
  if (!s) s = std::make_unique<transport::MpiSession>(nullptr, nullptr);
  return {s->world_size(), s->rank()};
}

void mpi_finalize() {
  session().reset();
}

std::pair<int, std::int64_t> mpi_agree(bool failed, std::int64_t tokens) {
  const auto [size, rank] = mpi_world();
  // One MAX reduction: size - rank for a failing rank (so the lowest wins), the token count.
  long long mine[2] = {failed ? size - rank : 0, tokens};
  long long all[2] = {0, 0};
  if (MPI_Allreduce(mine, all, 2, MPI_LONG_LONG, MPI_MAX, layer_comm()) != MPI_SUCCESS)
    throw Error("MPI_Allreduce failed while the ranks compared their arguments");
  return {all[0] == 0 ? -1 : size - static_cast<int>(all[0]), all[1]};
}

bool mpi_started() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  return session() != nullptr || initialized != 0;
}

bool mpi_built() {
  return true;
}
#else
std::pair<int, int> mpi_world() {
  throw NotBuiltError(
      "this flashmoe was built without MPI (CMake found no MPI); group='mpi' is unavailable");
}

void mpi_finalize() {}

std::pair<int, std::int64_t> mpi_agree(bool, std::int64_t tokens) {
  mpi_world();  // throws NotBuiltError
  return {-1, tokens};
}

bool mpi_started() {
  return false;
}

bool mpi_built() {
  return false;
}
#endif

}  // namespace flashmoe::python
