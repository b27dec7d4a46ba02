#include "cli/run_options.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "cli/usage_error.hpp"
#include "common/memory_available.hpp"
#include "engine/memory_footprint.hpp"
#include "flashmoe/error.hpp"
#include "io/run_layout.hpp"
#include "io/save_folder.hpp"

namespace flashmoe::cli {
namespace {

using Kind = OptionSpec::Kind;

// Options that describe the problem; a saved run (--load) already fixes all of them.
const std::vector<std::string>& problem_options() {
  static const std::vector<std::string> names{"config",   "ranks", "tokens", "seed",
                                              "backward", "d_aux", "d_z"};
  return names;
}

bool is_config_key(std::string_view name) {
  const auto& keys = config_keys();
  return std::find(keys.begin(), keys.end(), name) != keys.end();
}

std::vector<std::int64_t> tokens_per_rank(const ParsedArgs& args, const LoadedConfig& loaded,
                                          const Config& config, int world_size) {
  if (const auto text = args.value("tokens")) {
    std::vector<std::int64_t> tokens = parse_integer_list("--tokens", *text);
    if (tokens.size() == 1) tokens.assign(static_cast<std::size_t>(world_size), tokens.front());
    if (static_cast<int>(tokens.size()) != world_size)
      throw UsageError(detail::concat("--tokens: ", tokens.size(), " counts given for ", world_size,
                                      " ranks (give one count, or one per rank)"));
    for (std::size_t r = 0; r < tokens.size(); ++r)
      if (tokens[r] > config.max_tokens)
        throw Error(detail::concat("--tokens: ", tokens[r], " tokens on rank ", r,
                                   " exceed max_tokens = ", config.max_tokens,
                                   " (raise it, e.g. --max_tokens ", tokens[r], ")"));
    return tokens;
  }
  if (loaded.tokens_per_rank) {
    const std::int64_t tokens = *loaded.tokens_per_rank;
    if (tokens > config.max_tokens)
      throw Error(detail::concat("the configuration file's sequence_len × mini_batch = ", tokens,
                                 " tokens per rank exceed max_tokens = ", config.max_tokens,
                                 " (pass --tokens or raise --max_tokens)"));
    return std::vector<std::int64_t>(static_cast<std::size_t>(world_size), tokens);
  }
  return std::vector<std::int64_t>(static_cast<std::size_t>(world_size),
                                   std::min(config.max_tokens, kDefaultTokensPerRank));
}

// Refuses a problem whose inputs alone would not fit in the memory this process may still take
// (common/memory_available.hpp: MemAvailable, or `ulimit -v`): allocating it would end in the
// kernel's out-of-memory killer or a bare "out of memory" rather than in a message.
// `tokens`: the token counts of the ranks whose inputs this process generates; `experts`: how
// many experts' weights it holds.
void check_memory(const Config& c, const std::vector<std::int64_t>& tokens, std::int64_t experts,
                  bool backward) {
  const std::optional<MemoryAvailable> available = memory_available();
  if (!available) return;  // unknown: let the allocation decide
  const auto d = [](std::int64_t v) { return static_cast<double>(v); };
  const double element = static_cast<double>(element_size(storage_type(c.dtype)));
  double weights = d(c.experts) * d(c.hidden);  // wg, on every rank
  weights += d(experts) * (d(c.w1_rows()) * d(c.hidden) + d(c.hidden) * d(c.ffn));
  if (c.bias) weights += d(experts) * d(c.w1_rows() + c.hidden);
  double activations = 0.0;
  for (std::int64_t s : tokens) activations += d(s) * d(c.hidden) * (backward ? 2.0 : 1.0);
  const double bytes = (weights + activations) * element;
  if (bytes <= static_cast<double>(available->bytes)) return;
  throw Error(detail::concat(
      "the inputs of this problem alone need ", format_bytes(bytes), " (weights ",
      format_bytes(weights * element), ": ", experts, " experts × (", c.w1_rows(), " + ", c.ffn,
      ") × ", c.hidden, " values; x", backward ? " and dout" : "", " ",
      format_bytes(activations * element), "), more than the ",
      format_bytes(static_cast<double>(available->bytes)), " available (", available->source,
      "); reduce hidden, ffn, experts or tokens"));
}

Problem problem_from_options(const ParsedArgs& args, RunRequest& request, int default_ranks,
                             std::optional<int> only_rank) {
  LoadedConfig loaded;
  if (const auto file = args.value("config")) {
    loaded = load_config_file(*file);
    if (!loaded.ignored_keys.empty()) {
      std::string keys;
      for (const std::string& key : loaded.ignored_keys) keys += (keys.empty() ? "" : ", ") + key;
      request.notes.push_back("configuration file " + *file + ": ignored keys: " + keys);
    }
  }
  // Overrides apply in command-line order, after the file.
  Config config = loaded.config;
  for (const ParsedOption& option : args.options)
    if (is_config_key(option.name)) set_config_field(config, option.name, option.value);

  const int world_size =
      args.has("ranks") ? static_cast<int>(parse_integer("--ranks", *args.value("ranks"), 1, 1024))
                        : default_ranks;
  validate(config, world_size);
  const std::uint64_t seed = parse_unsigned("--seed", args.value("seed").value_or("0"));
  const bool backward =
      args.has("backward") ? args.flag("backward") : loaded.backward.value_or(false);
  const double d_aux = parse_number("--d_aux", args.value("d_aux").value_or("0"));
  const double d_z = parse_number("--d_z", args.value("d_z").value_or("0"));
  if (!backward && (d_aux != 0.0 || d_z != 0.0))
    throw UsageError("--d_aux and --d_z are upstream gradients: they need --backward");
  if (config.top_k == 1 && config.normalize_weights)
    request.notes.push_back(
        "top_k = 1 with normalize_weights: every weight is 1 and the gate gets no gradient");
  request.tokens = tokens_per_rank(args, loaded, config, world_size);
  // The inputs first, then — for the CPU engine — its workspaces, both before any input is
  // generated (the engine checks its workspaces again with the options it is given).
  const Backend& backend =
      request.backend != nullptr ? *request.backend : default_backend_for(config);
  const auto check_workspaces = [&](int local_ranks) {
    if (backend.name == "cpu")
      engine::check_smallest_workspaces_fit(config, world_size, local_ranks);
  };
  if (only_rank) {
    check_memory(config, {request.tokens.at(static_cast<std::size_t>(*only_rank))},
                 config.local_experts(world_size), backward);
    check_workspaces(1);
    return make_random_rank_problem(config, world_size, request.tokens, seed, backward, d_aux, d_z,
                                    *only_rank);
  }
  check_memory(config, request.tokens, config.experts, backward);
  check_workspaces(world_size);
  return make_random_problem(config, world_size, request.tokens, seed, backward, d_aux, d_z);
}

}  // namespace

const std::vector<OptionSpec>& run_options() {
  static const std::vector<OptionSpec> options{
      {"config", Kind::value, "FILE",
       "configuration file: flashmoe JSON, or a FlashDMoE file (whose\n"
       "sequence_len × mini_batch sets the tokens per rank and whose\n"
       "is_training sets --backward)"},
      {"backend", Kind::value, "NAME",
       "backend to run: " + backend_names() +
           "\n(default: the first of these that supports the configuration)"},
      {"ranks", Kind::value, "W",
       "expert-parallel ranks, run in this process, 1–1024 (default 1; under\n"
       "mpirun the job's processes are the ranks: absent or equal to -np); the\n"
       "engine's buffers grow with W × experts and are checked against the\n"
       "memory available before anything is allocated"},
      {"transport", Kind::value, "local|mpi",
       "how ranks talk: local (threads of this process) or mpi (one rank\n"
       "per process; default when started by mpirun/mpiexec/srun). Under mpi,\n"
       "puts and signals travel as batched messages, or as MPI-3 RMA with\n"
       "FLASHMOE_MPI_DELIVERY=rma (the same on every rank; docs/mpi.md)"},
      {"tokens", Kind::value, "S|S0,S1,...",
       "tokens per rank: one count for every rank, or one per rank\n"
       "(default: the FlashDMoE file's, else min(max_tokens, " +
           std::to_string(kDefaultTokensPerRank) + "))"},
      {"seed", Kind::value, "N", "seed of the random inputs and weights (default 0)"},
      {"backward", Kind::flag, "",
       "also run the backward pass (random dout); --backward=false\n"
       "overrides a FlashDMoE file's is_training"},
      {"d_aux", Kind::value, "X",
       "upstream gradient of the load-balance loss (default 0; needs --backward)"},
      {"d_z", Kind::value, "X",
       "upstream gradient of the router z-loss (default 0; needs --backward)"},
      {"check", Kind::flag, "",
       "compare every output with the fp64 reference (routing replayed)\n"
       "against the dtype's tolerance (SPEC §4); exit status 3 beyond it"},
      {"save", Kind::value, "DIR",
       "write inputs, outputs and routing to DIR (docs/file_layout.md); DIR must\n"
       "be absent or empty, and gets the whole run or nothing"},
      {"force", Kind::flag, "",
       "with --save: replace what flashmoe saved in a non-empty DIR (meta.json,\n"
       "wg.npy, rank<r>/; other files are kept)"},
      {"load", Kind::value, "DIR",
       "run the inputs saved in DIR instead of random ones; configuration,\n"
       "ranks, tokens, backward, d_aux and d_z come from DIR/meta.json\n"
       "and the options that set them are refused"},
      {"workers", Kind::value, "N",
       "processor groups per rank, 1–4096 (engines only; default: the backend's\n"
       "choice; each is a thread: the system's thread limit is the real bound)"},
      {"group_size", Kind::value, "G",
       "threads per processor group, 1–64 (cpu engine; default 1; the same\n"
       "bits for every G: G > 1 runs the group-cooperative actors as a GPU\n"
       "block would)"},
      {"scheduling", Kind::value, "MODE",
       "shared (idle processors take the scheduler's and subscribers' work;\n"
       "default) or dedicated (a scheduler and subscriber threads per rank)"},
      {"subscribers", Kind::value, "S",
       "subscriber partitions per rank, 1–64 (cpu engine; default 1)"},
      {"trace", Kind::value, "FILE", "write a Chrome/Perfetto trace (engines that support it)"},
      {"quiet", Kind::flag, "",
       "print only the check verdict on stdout (notes and errors still go to stderr)"},
  };
  return options;
}

std::vector<OptionSpec> run_options_with_config_keys() {
  std::vector<OptionSpec> options = run_options();
  // Booleans are flags (--bias, --bias=false); the defaults come from the Config itself.
  const auto defaults = nlohmann::json::parse(config_to_json(Config{}));
  for (std::string_view key : config_keys()) {
    const std::string name(key);
    const auto it = defaults.find(name);
    const bool boolean = it != defaults.end() && it->is_boolean();
    std::string shown = it == defaults.end() ? "?"
                        : it->is_string()    ? it->get<std::string>()
                                             : it->dump();
    options.push_back({name, boolean ? Kind::flag : Kind::value, boolean ? "" : "VALUE",
                       "configuration key (default " + shown + ")"});
  }
  return options;
}

RunRequest make_run_request(const ParsedArgs& args, int default_ranks,
                            std::optional<int> only_rank) {
  RunRequest request;
  // A named backend first: a misspelt name is refused before any input is generated or read.
  if (const auto name = args.value("backend")) request.backend = &find_backend(*name);
  if (const auto dir = args.value("load")) {
    for (const ParsedOption& option : args.options) {
      const bool problem_option = std::find(problem_options().begin(), problem_options().end(),
                                            option.name) != problem_options().end();
      if (problem_option || is_config_key(option.name))
        throw UsageError((option.assignment ? "'" + option.name + "=" + option.value + "'"
                                            : "--" + option.name) +
                         " cannot be combined with --load: the saved run's meta.json fixes the "
                         "configuration, ranks, tokens and backward");
    }
    request.load_dir = *dir;
    const io::RunMeta meta = io::load_meta(*dir);
    // One rank's folder when that rank exists in the saved run; otherwise everything, and the
    // caller's world-size check reports the mismatch.
    request.problem = only_rank && *only_rank < meta.world_size
                          ? io::load_rank_problem(*dir, *only_rank)
                          : io::load_problem(*dir);
    request.tokens = meta.tokens;
  } else {
    request.problem = problem_from_options(args, request, default_ranks, only_rank);
  }
  if (request.backend == nullptr) request.backend = &default_backend_for(request.problem.config);

  if (const auto workers = args.value("workers")) {
    request.backend_options.workers_per_rank =
        static_cast<int>(parse_integer("--workers", *workers, 1, 4096));
    if (!request.backend->uses_workers)
      request.notes.push_back("--workers is ignored by the " + std::string(request.backend->name) +
                              " backend");
  }
  const auto program_note = [&](const char* option) {
    if (!request.backend->uses_workers)
      request.notes.push_back(std::string("--") + option + " is ignored by the " +
                              std::string(request.backend->name) + " backend");
  };
  if (const auto group = args.value("group_size")) {
    request.backend_options.group_size =
        static_cast<int>(parse_integer("--group_size", *group, 1, 64));
    program_note("group_size");
  }
  if (const auto mode = args.value("scheduling")) {
    request.backend_options.dedicated_roles =
        parse_choice("--scheduling", *mode, {"shared", "dedicated"}) == 1;
    program_note("scheduling");
  }
  if (const auto subscribers = args.value("subscribers")) {
    request.backend_options.subscribers =
        static_cast<int>(parse_integer("--subscribers", *subscribers, 1, 64));
    program_note("subscribers");
  }
  if (const auto trace = args.value("trace")) {
    request.backend_options.trace_path = *trace;
    if (!request.backend->writes_trace)
      request.notes.push_back("--trace is ignored by the " + std::string(request.backend->name) +
                              " backend (no trace written)");
  }
  request.check = args.flag("check");
  request.quiet = args.flag("quiet");
  if (const auto dir = args.value("save")) request.save_dir = *dir;
  request.force = args.flag("force");
  if (request.force && !request.save_dir) throw UsageError("--force needs --save DIR");
  // Refused before the run, so that a folder in the way costs nothing.
  if (request.save_dir) io::check_save_folder(*request.save_dir, request.force);
  return request;
}

}  // namespace flashmoe::cli
