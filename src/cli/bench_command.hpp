// Pieces of `flashmoe bench` shared by its in-process and MPI front ends (bench_command.cpp,
// bench_mpi.cpp).
#pragma once

#include <optional>
#include <string>

#include "bench/benchmark.hpp"
#include "cli/arg_parser.hpp"

namespace flashmoe::cli {

// The benchmark's options from the command line. Under MPI, job_ranks is the job's size: the
// default for --ranks, which must then equal it (UsageError otherwise).
bench::BenchOptions make_bench_options(const ParsedArgs& args, std::optional<int> job_ranks);

// The table on stdout and, with a path, the JSON document (throws Error if it cannot write).
void write_bench_report(const bench::BenchReport& report,
                        const std::optional<std::string>& json_path);

}  // namespace flashmoe::cli
