// The MPI side of the binding (docs/python.md, "Several processes over MPI"): one MpiSession per
// process, created on first use — it adopts an MPI that mpi4py (or anyone) initialised with
// MPI_THREAD_MULTIPLE, or initialises MPI itself, in which case mpi_finalize() (registered with
// Python's atexit by flashmoe.world) ends it. Everything here exists only when the extension is
// built with MPI (FLASHMOE_PYTHON_HAVE_MPI); otherwise mpi_world() throws NotBuiltError.
#pragma once

#include <cstdint>
#include <utility>

#if FLASHMOE_PYTHON_HAVE_MPI
#include <mpi.h>
#endif

namespace flashmoe::python {

// (world size, rank) of MPI_COMM_WORLD; initialises MPI on first call.
std::pair<int, int> mpi_world();
#if FLASHMOE_PYTHON_HAVE_MPI
// flashmoe's duplicate of MPI_COMM_WORLD (created on first use: collective), on which the
// argument agreement and the engine run.
MPI_Comm layer_comm();
#endif
// Finalises MPI when this extension initialised it; a no-op otherwise or when never started.
void mpi_finalize();
// Collective over layer_comm(): whether this rank `failed` and its token count in, the lowest
// failing rank (-1 when none) and the largest token count out.
std::pair<int, std::int64_t> mpi_agree(bool failed, std::int64_t tokens);
// Whether MPI is initialised (by this extension or anyone else).
bool mpi_started();
// Whether the extension was built with MPI.
bool mpi_built();

}  // namespace flashmoe::python
