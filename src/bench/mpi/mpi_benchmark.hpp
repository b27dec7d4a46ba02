// `flashmoe bench` under mpirun: the fused engine (one rank per process over the MPI transport)
// against the bulk-synchronous MPI_Alltoallv baseline (mpi_baseline.hpp), in the same run, on
// the same problem, with the same driver as the in-process benchmark (bench_platform.hpp).
#pragma once

#include <mpi.h>

#include "bench/benchmark.hpp"

namespace flashmoe::bench {

// Collective over comm, whose size must be options.world_size. Every rank runs its share of
// every pass; the ranks first compare configurations (a mismatch fails on every rank, naming
// the first differing field). The returned report is complete on rank 0 only: pass times are
// the slowest rank's, the engine's stage times are summed over ranks (they are sums over
// workers), the baseline's are the slowest rank's phase wall times, and the ceiling matmul is
// measured on every process at once (see docs/benchmarks.md). `progress` is called on every
// rank; the caller decides who prints.
BenchReport run_mpi_benchmark(MPI_Comm comm, const BenchOptions& options, const Progress& progress);

}  // namespace flashmoe::bench
