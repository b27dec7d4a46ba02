// `flashmoe bench` with one rank per process (docs/benchmarks.md, "Under MPI"): the engine over
// the MPI transport against the MPI_Alltoallv baseline; rank 0 prints. Built only with MPI.
#pragma once

#include "cli/arg_parser.hpp"

namespace flashmoe::cli {

// The process's top level for the benchmark (run_mpi_program): an error on any rank is printed
// as "flashmoe rank R of W: ..." and ends the whole job with a non-zero status.
int bench_command_mpi(const ParsedArgs& args);

}  // namespace flashmoe::cli
