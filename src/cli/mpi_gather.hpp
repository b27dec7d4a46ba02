// Collecting one MPI rank's results on rank 0, so that `flashmoe run` under mpirun prints the
// summary and runs --check with the same code as an in-process run (every rank's outputs in
// one Results). The outputs travel as raw bytes: the values rank 0 sees are bitwise the ones
// the rank computed.
#pragma once

#include <mpi.h>

#include "flashmoe/problem.hpp"

namespace flashmoe::cli {

// Collective over comm. `own` holds this rank's entry (at index rank; the others empty). On
// rank 0 returns Results with every rank's entry and rank 0's seconds; elsewhere returns `own`.
Results gather_results(MPI_Comm comm, Results own);

}  // namespace flashmoe::cli
