// flashmoe run: build a problem (random or --load), run one backend, report, and optionally
// check against the reference and save everything. Under MPI (mpi_launch.hpp) the engine runs
// one rank per process instead (run_mpi.cpp).
#include <chrono>
#include <iostream>

#include "cli/accuracy_check.hpp"
#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/help_text.hpp"
#include "cli/mpi_launch.hpp"
#include "cli/run_options.hpp"
#include "cli/run_summary.hpp"
#include "cli/usage_error.hpp"
#include "io/run_layout.hpp"
#include "io/save_folder.hpp"
#ifdef FLASHMOE_HAVE_MPI
#include "cli/run_mpi.hpp"
#endif

namespace flashmoe::cli {

int run_command(const Args& args) {
  const std::vector<OptionSpec> options = run_options_with_config_keys();
  std::vector<std::string> keys;
  for (std::string_view key : config_keys()) keys.emplace_back(key);
  const ParsedArgs parsed = parse_args(args, options, keys);
  if (parsed.help) {
    std::cout << run_help();
    return kExitOk;
  }

  if (wants_mpi_transport(parsed.value("transport"))) {
#ifdef FLASHMOE_HAVE_MPI
    return run_command_mpi(parsed);
#else
    throw UsageError(
        "the mpi transport is not built into this flashmoe (CMake found no MPI); "
        "use --transport local or rebuild with MPI");
#endif
  }
  const RunRequest request = make_run_request(parsed);
  for (const std::string& note : request.notes) std::cerr << "flashmoe: note: " << note << '\n';

  const auto start = std::chrono::steady_clock::now();
  const Results results = request.backend->run(request.problem, request.backend_options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (!request.quiet) {
    if (request.load_dir) std::cout << "inputs loaded from " << *request.load_dir << '\n';
    print_summary(std::cout, request.problem, results, request.backend->name, seconds);
  }
  if (request.save_dir) {
    io::save_run_whole(*request.save_dir, request.problem, results,
                       std::string(request.backend->name));
    if (!request.quiet) std::cout << "saved to " << *request.save_dir << '\n';
  }
  if (!request.check) return kExitOk;
  return report_check(request, results);
}

int report_check(const RunRequest& request, const Results& results) {
  const CheckReport report = check_against_reference(request.problem, results);
  if (request.quiet) {
    // The verdict, and for a failure which tensors missed the tolerance by how much.
    std::cout << "check: " << (report.passed() ? "PASS" : "FAIL");
    for (const CheckRow& row : report.rows)
      if (!row.passed(report.tolerance)) std::cout << ' ' << row.tensor << '=' << row.worst();
    std::cout << '\n';
  } else {
    print_check(std::cout, report, request.problem.config);
  }
  return report.passed() ? kExitOk : kExitCheckFailed;
}

}  // namespace flashmoe::cli
