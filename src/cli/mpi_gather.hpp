// Collecting one MPI rank's results on rank 0, so that `flashmoe run` under mpirun prints the
// summary and runs --check with the same code as an in-process run (every rank's outputs in
// one Results). The outputs travel as raw bytes: the values rank 0 sees are bitwise the ones
// the rank computed.
#pragma once

#include <mpi.h>

#include "flashmoe/problem.hpp"

namespace flashmoe::cli {

// What travels to rank 0: every output (for --check), or only what the summary prints — the
// routing record (O(S·k) per rank) and the losses, not the O(S·H) and O(E·H·P) tensors.
enum class GatherScope { everything, routing_and_losses };

// Collective over comm. `own` holds this rank's entry (at index rank; the others empty). On
// rank 0 returns Results with every rank's entry (the `scope` of it for the others) and rank
// 0's seconds; elsewhere returns `own`.
Results gather_results(MPI_Comm comm, Results own, GatherScope scope = GatherScope::everything);

}  // namespace flashmoe::cli
