// `flashmoe run`: its options, and the translation of a parsed command line into the Problem
// to run and what to do with the results.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/arg_parser.hpp"
#include "cli/backends.hpp"
#include "flashmoe/problem.hpp"

namespace flashmoe::cli {

// Tokens per rank when neither --tokens nor a FlashDMoE file's sequence_len × mini_batch give
// them: min(max_tokens, kDefaultTokensPerRank).
inline constexpr std::int64_t kDefaultTokensPerRank = 512;

// The command's own options (without the configuration keys).
const std::vector<OptionSpec>& run_options();
// run_options() followed by one option per configuration key (--hidden N, --bias, ...).
std::vector<OptionSpec> run_options_with_config_keys();

struct RunRequest {
  Problem problem;                   // with only_rank: that rank's inputs only
  std::vector<std::int64_t> tokens;  // S_r for every rank
  const Backend* backend = nullptr;
  BackendOptions backend_options;
  bool check = false;
  bool quiet = false;
  std::optional<std::string> save_dir;
  bool force = false;  // --save may replace what flashmoe saved in a non-empty folder
  std::optional<std::string> load_dir;
  std::vector<std::string> notes;  // warnings for stderr (ignored keys, unused options, ...)
};

// Throws UsageError for contradictory or malformed options and flashmoe::Error for invalid
// configurations or token counts. default_ranks: the world size when --ranks is absent (under
// MPI, the job's size). only_rank: generate (or --load) the inputs of that rank only (a process
// of an MPI job that needs no other rank's).
RunRequest make_run_request(const ParsedArgs& args, int default_ranks = 1,
                            std::optional<int> only_rank = std::nullopt);

// The end of a run once every rank's results are in one place: the --check comparison and its
// report; returns the exit status (run_command.cpp).
int report_check(const RunRequest& request, const Results& results);

}  // namespace flashmoe::cli
