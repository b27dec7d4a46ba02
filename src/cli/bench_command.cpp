// flashmoe bench: time the fused engine against the bulk-synchronous baseline on one problem,
// with the library's large matmul as the ceiling (src/bench, docs/benchmarks.md).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "bench/benchmark.hpp"
#include "cli/arg_parser.hpp"
#include "cli/bench_command.hpp"
#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/help_text.hpp"
#include "cli/mpi_launch.hpp"
#include "cli/usage_error.hpp"
#include "flashmoe/error.hpp"
#ifdef FLASHMOE_HAVE_MPI
#include "cli/bench_mpi.hpp"
#endif

namespace flashmoe::cli {
namespace {

using Kind = OptionSpec::Kind;

// The defaults are sized to finish in well under a minute on a 2-core machine while keeping
// every expert GEMM large enough to be compute-bound (docs/benchmarks.md).
constexpr int kDefaultRanks = 2;
constexpr std::int64_t kDefaultTokensPerRank = 2048;
constexpr DType kDefaultDType = DType::bf16;

const std::vector<OptionSpec>& bench_options() {
  static const std::vector<OptionSpec> options{
      {"config", Kind::value, "FILE",
       "configuration file (flashmoe JSON or FlashDMoE; its sequence_len × mini_batch sets the\n"
       "tokens per rank); without one: the Config defaults with dtype bf16"},
      {"ranks", Kind::value, "W",
       "expert-parallel ranks, run in this process (default " + std::to_string(kDefaultRanks) +
           ";\nunder mpirun the job's processes are the ranks: absent or equal to -np)"},
      {"transport", Kind::value, "local|mpi",
       "local (ranks as threads of this process; the baseline copies rows)\nor mpi (one rank "
       "per process; the baseline uses MPI_Alltoallv;\ndefault when started by "
       "mpirun/mpiexec/srun)"},
      {"tokens", Kind::value, "S",
       "tokens per rank (default " + std::to_string(kDefaultTokensPerRank) + ")"},
      {"workers", Kind::value, "N",
       "worker threads per rank, engine and baseline alike\n(default max(1, hardware threads / "
       "W))"},
      {"group_size", Kind::value, "G",
       "threads per processor group of the engine (default 1; same bits)"},
      {"scheduling", Kind::value, "MODE",
       "the engine's roles: shared (default) or dedicated (a scheduler and\na subscriber "
       "thread per rank beside the processors)"},
      {"warmup", Kind::value, "N", "untimed passes per backend and pass kind (default 2)"},
      {"repeats", Kind::value, "N",
       "timed passes per backend and pass kind; medians are reported (default 5)"},
      {"backward", Kind::flag, "", "also time forward+backward"},
      {"json", Kind::value, "FILE", "write the results as JSON (docs/benchmarks.md)"},
      {"matmul_size", Kind::value, "N",
       "size of the ceiling matmul N×N×N (default 2048; 0 skips it)"},
      {"seed", Kind::value, "N", "seed of the random inputs and weights (default 0)"},
  };
  return options;
}

std::vector<OptionSpec> options_with_config_keys() {
  std::vector<OptionSpec> options = bench_options();
  const auto defaults = nlohmann::json::parse(config_to_json(Config{}));
  for (std::string_view key : config_keys()) {
    const std::string name(key);
    const auto it = defaults.find(name);
    const bool boolean = it != defaults.end() && it->is_boolean();
    options.push_back(
        {name, boolean ? Kind::flag : Kind::value, boolean ? "" : "VALUE", "configuration key"});
  }
  return options;
}

std::string bench_help() {
  return "Usage: flashmoe bench [options] [--KEY VALUE | KEY=VALUE ...]\n\n"
         "Times the fused engine and the bulk-synchronous baseline on the same random problem:\n"
         "each builds its layer once (set-up, reported apart), then passes alternate between\n"
         "them (medians after warm-up); the library's large square matmul is the ceiling.\n"
         "Prints a table; --json writes every number.\n\n"
         "Under mpirun (mpirun -np W flashmoe bench ...) every process is one rank: the engine\n"
         "runs over the MPI transport, the baseline exchanges rows with MPI_Alltoallv, rank 0\n"
         "prints the report (pass time = the slowest rank's).\n\n"
         "Options:\n" +
         format_options(bench_options()) + "\n" +
         "Configuration keys (defaults as `flashmoe run`, except dtype bf16):\n" +
         config_keys_help();
}

bool is_config_key(std::string_view name) {
  const auto& keys = config_keys();
  return std::find(keys.begin(), keys.end(), name) != keys.end();
}

}  // namespace

bench::BenchOptions make_bench_options(const ParsedArgs& args, std::optional<int> job_ranks) {
  bench::BenchOptions o;
  std::optional<std::int64_t> file_tokens;
  if (const auto file = args.value("config")) {
    const LoadedConfig loaded = load_config_file(*file);
    o.config = loaded.config;
    file_tokens = loaded.tokens_per_rank;
  } else {
    o.config.dtype = kDefaultDType;
  }
  for (const ParsedOption& option : args.options)
    if (is_config_key(option.name)) set_config_field(o.config, option.name, option.value);

  o.world_size = static_cast<int>(parse_integer(
      "--ranks", args.value("ranks").value_or(std::to_string(job_ranks.value_or(kDefaultRanks))), 1,
      1024));
  if (job_ranks && o.world_size != *job_ranks)
    throw UsageError("--ranks " + *args.value("ranks") + " but the MPI job has " +
                     std::to_string(*job_ranks) +
                     " processes: under MPI every process is one rank (omit --ranks)");
  o.tokens_per_rank =
      args.value("tokens")
          ? parse_integer("--tokens", *args.value("tokens"), 0, o.config.max_tokens)
          : file_tokens.value_or(std::min(kDefaultTokensPerRank, o.config.max_tokens));
  if (const auto workers = args.value("workers"))
    o.workers_per_rank = static_cast<int>(parse_integer("--workers", *workers, 1, 4096));
  if (const auto group = args.value("group_size"))
    o.group_size = static_cast<int>(parse_integer("--group_size", *group, 1, 64));
  if (const auto mode = args.value("scheduling"))
    o.scheduling = parse_choice("--scheduling", *mode, {"shared", "dedicated"}) == 1
                       ? runtime::Scheduling::dedicated
                       : runtime::Scheduling::shared;
  o.warmup =
      static_cast<int>(parse_integer("--warmup", args.value("warmup").value_or("2"), 0, 1000));
  o.repeats =
      static_cast<int>(parse_integer("--repeats", args.value("repeats").value_or("5"), 1, 1000));
  o.backward = args.flag("backward");
  o.matmul_size =
      parse_integer("--matmul_size", args.value("matmul_size").value_or("2048"), 0, 16384);
  o.seed = parse_unsigned("--seed", args.value("seed").value_or("0"));
  return o;
}

std::unique_ptr<std::ofstream> open_report_file(const std::optional<std::string>& json_path) {
  if (!json_path) return nullptr;
  errno = 0;
  auto file = std::make_unique<std::ofstream>(*json_path, std::ios::out | std::ios::trunc);
  if (!*file)
    throw Error(detail::concat("bench: cannot write --json ", *json_path, ": ",
                               errno != 0 ? std::strerror(errno) : "cannot open it",
                               " (nothing was measured)"));
  return file;
}

void write_bench_report(const bench::BenchReport& report,
                        const std::optional<std::string>& json_path, std::ofstream* json_file) {
  std::cout << bench::format_report(report);
  if (json_file == nullptr) return;
  *json_file << bench::report_to_json(report);
  json_file->close();
  if (!*json_file) throw Error("bench: could not write " + json_path.value_or("the --json file"));
  std::cout << "results written to " << json_path.value_or("") << '\n';
}

int bench_command(const Args& args) {
  std::vector<std::string> keys;
  for (std::string_view key : config_keys()) keys.emplace_back(key);
  const ParsedArgs parsed = parse_args(args, options_with_config_keys(), keys);
  if (parsed.help) {
    std::cout << bench_help();
    return kExitOk;
  }
  if (wants_mpi_transport(parsed.value("transport"))) {
#ifdef FLASHMOE_HAVE_MPI
    return bench_command_mpi(parsed);
#else
    throw UsageError(
        "the mpi transport is not built into this flashmoe (CMake found no MPI); "
        "use --transport local or rebuild with MPI");
#endif
  }
  const bench::BenchOptions options = make_bench_options(parsed, std::nullopt);
  const std::unique_ptr<std::ofstream> json_file = open_report_file(parsed.value("json"));
  const bench::BenchReport report = bench::run_benchmark(
      options, [](const std::string& line) { std::cerr << "bench: " << line << std::endl; });
  write_bench_report(report, parsed.value("json"), json_file.get());
  return kExitOk;
}

}  // namespace flashmoe::cli
