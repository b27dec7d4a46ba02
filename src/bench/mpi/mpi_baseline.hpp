// The bulk-synchronous baseline with ranks as MPI processes: the conventional expert-parallel
// MoE layer as frameworks run it across GPUs or nodes — gate → pack rows per destination →
// MPI_Alltoall of the row counts → MPI_Alltoallv of the rows → per-expert GEMMs →
// MPI_Alltoallv back → combine, and the backward in the same style. Every phase ends when all
// of this rank's threads are done with it; every exchange is a collective, so every rank waits
// for the slowest one at each of them. The compute is the in-process baseline's own (the phase
// functions of baseline_state.hpp), so the two give bitwise-identical results; only the
// exchange differs (tested by tests/mpi).
#pragma once

#include <mpi.h>

#include "bench/baseline.hpp"
#include "flashmoe/problem.hpp"

namespace flashmoe::bench {

// One rank of the baseline, held across passes like the in-process one. Collective over `comm`
// (construction, forward, backward, destruction), whose size must be problem.world_size; this
// process is rank MPI_Comm_rank(comm). Only this rank's entry of problem.ranks is read, and
// results() holds only this rank's entry (out, routing, losses; dx, dwg and its local experts'
// dw1, db1, dw2, db2). Results.seconds: the in-process baseline's phase names (this rank's wall
// times; the dispatch and combine phases include their exchanges), plus "forward.exchange" and
// "backward.exchange", the part of the pass spent inside MPI collectives. workers_per_rank = 0
// chooses max(1, hardware threads / processes on this node).
BaselineLayer make_mpi_baseline(MPI_Comm comm, const Problem& problem,
                                const BaselineOptions& options = {});

}  // namespace flashmoe::bench
