// The command line of an MPI job's processes, compared before anything else runs: every
// process must have been given the same options (mpirun starts one command line, but a wrapper
// script or a per-rank environment can change it), because which collectives a process enters
// — the --check gather, the --save writes, the backward pass — follows from them. A difference
// fails on every process at once, naming the option and the ranks (issue 10, item 1).
#pragma once

#include <mpi.h>

#include <string_view>

#include "cli/arg_parser.hpp"

namespace flashmoe::cli {

// Collective over comm. Compares every option's last value (`key=value` overrides included);
// `what` names them in the error ("run options", "bench options").
void check_same_arguments(MPI_Comm comm, const ParsedArgs& args, std::string_view what);

}  // namespace flashmoe::cli
