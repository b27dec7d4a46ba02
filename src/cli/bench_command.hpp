// Pieces of `flashmoe bench` shared by its in-process and MPI front ends (bench_command.cpp,
// bench_mpi.cpp).
#pragma once

#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "bench/benchmark.hpp"
#include "cli/arg_parser.hpp"

namespace flashmoe::cli {

// The benchmark's options from the command line. Under MPI, job_ranks is the job's size: the
// default for --ranks, which must then equal it (UsageError otherwise).
bench::BenchOptions make_bench_options(const ParsedArgs& args, std::optional<int> job_ranks);

// The --json file, opened (and emptied) before anything is measured, so that a path that cannot
// be written fails at once instead of after the whole benchmark; null without --json. Throws
// Error naming the path and the system's reason.
std::unique_ptr<std::ofstream> open_report_file(const std::optional<std::string>& json_path);

// The table on stdout and, with a file, the JSON document into it (throws Error if the write
// fails).
void write_bench_report(const bench::BenchReport& report,
                        const std::optional<std::string>& json_path, std::ofstream* json_file);

}  // namespace flashmoe::cli
