// `flashmoe run` with one rank per process over the MPI transport (docs/mpi.md): every process
// builds the same problem (seed or --load), checks that every rank has the same configuration,
// runs the engine for its own rank, saves its own part, and rank 0 gathers the outputs to print
// the summary and the --check report. Built only with MPI.
#pragma once

#include "cli/arg_parser.hpp"

namespace flashmoe::cli {

// The process's top level for the run (run_mpi_program): any error on any rank is printed as
// "flashmoe rank R of W: ..." and ends the whole job with a non-zero status.
int run_command_mpi(const ParsedArgs& args);

}  // namespace flashmoe::cli
