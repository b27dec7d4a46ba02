#include "cli/bench_mpi.hpp"

#include <iostream>

#include "bench/mpi/mpi_benchmark.hpp"
#include "cli/bench_command.hpp"
#include "cli/exit_codes.hpp"
#include "cli/mpi_arguments.hpp"
#include "transport/mpi/mpi_program.hpp"

namespace flashmoe::cli {

int bench_command_mpi(const ParsedArgs& args) {
  return transport::run_mpi_program(nullptr, nullptr, [&](transport::MpiSession& session) {
    check_same_arguments(session.comm(), args, "bench options");
    const bench::BenchOptions options = make_bench_options(args, session.world_size());
    const bool root = session.rank() == 0;
    // Rank 0 writes the results; an unwritable path ends the job before anything is measured.
    const std::unique_ptr<std::ofstream> json_file =
        root ? open_report_file(args.value("json")) : nullptr;
    const bench::BenchReport report =
        bench::run_mpi_benchmark(session.comm(), options, [root](const std::string& line) {
          if (root) std::cerr << "bench: " << line << std::endl;
        });
    if (root) write_bench_report(report, args.value("json"), json_file.get());
    return kExitOk;
  });
}

}  // namespace flashmoe::cli
