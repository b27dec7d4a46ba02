// `flashmoe run` with one rank per process over the MPI transport (docs/mpi.md): every process
// generates its own rank's inputs from the seed, or reads them with --load (rank 0 every rank's
// under --check), checks that every rank has the same configuration, runs the engine for its own
// rank and saves its own part; rank 0 gathers the routing records and losses for the summary,
// or every output for the --check report. Built only with MPI.
#pragma once

#include "cli/arg_parser.hpp"

namespace flashmoe::cli {

// The process's top level for the run (run_mpi_program): any error on any rank is printed as
// "flashmoe rank R of W: ..." and ends the whole job with a non-zero status.
int run_command_mpi(const ParsedArgs& args);

}  // namespace flashmoe::cli
