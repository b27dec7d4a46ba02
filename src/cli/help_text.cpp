#include "cli/help_text.hpp"

#include <nlohmann/json.hpp>

#include "cli/arg_parser.hpp"
#include "cli/backends.hpp"
#include "cli/gradcheck_options.hpp"
#include "cli/run_options.hpp"
#include "flashmoe/config.hpp"

#ifndef FLASHMOE_VERSION
#define FLASHMOE_VERSION "unknown"
#endif

namespace flashmoe::cli {
namespace {

// What each key means; keys without an entry are still listed (with their default).
std::string key_meaning(std::string_view key) {
  if (key == "hidden") return "H, model size";
  if (key == "ffn") return "P, expert intermediate size";
  if (key == "experts") return "E, experts over all ranks (E % ranks == 0)";
  if (key == "top_k") return "k, experts per token (1 ≤ k ≤ min(E, 16))";
  if (key == "capacity_factor")
    return "C_r = ceil(capacity_factor · S_r · k / E), clamped to [1, S_r]";
  if (key == "drop_tokens") return "false: dropless (C_r = S_r)";
  if (key == "activation") return std::string("one of ") + std::string(activation_names());
  if (key == "bias") return "expert biases b1, b2";
  if (key == "normalize_weights") return "renormalise the top-k probabilities to sum to 1";
  if (key == "dtype") return std::string("one of ") + std::string(dtype_names());
  if (key == "allow_tf32") return "tf32 GEMMs for fp32 (GPU)";
  if (key == "max_tokens") return "per-rank token bound that sizes the buffers";
  if (key == "aux_loss") return "report the Switch load-balance loss";
  if (key == "z_loss") return "report the router z-loss";
  if (key == "wait_timeout_s") return "a wait on a peer fails after this many seconds";
  return "";
}

}  // namespace

std::string version_text() {
  return std::string("flashmoe ") + FLASHMOE_VERSION + "\n";
}

std::string main_help() {
  return "usage: flashmoe <command> [options]\n"
         "\n"
         "A distributed Mixture-of-Experts layer: run it, check it, measure it.\n"
         "\n"
         "commands:\n"
         "  run         run one MoE layer call on random or saved inputs; report routing and\n"
         "              timings, optionally check against the reference and save everything\n"
         "  gradcheck   finite-difference check of the reference's gradients (fp64)\n"
         "  bench       time the fused engine against a bulk-synchronous baseline and the\n"
         "              GEMM library's large-matmul rate, in the same run\n"
         "  help [CMD]  this text, or a command's (same as flashmoe CMD --help)\n"
         "\n"
         "options:\n"
         "  -h, --help  this text\n"
         "  --version   print the version\n"
         "\n"
         "exit status: 0 success, 1 error (invalid configuration or input, failed run),\n"
         "2 malformed command line, 3 accuracy check beyond tolerance.\n"
         "Documentation: docs/cli.md, docs/file_layout.md.\n";
}

std::string config_keys_help() {
  const auto defaults = nlohmann::json::parse(config_to_json(Config{}));
  std::string text;
  std::size_t width = 0;
  for (std::string_view key : config_keys()) width = std::max(width, key.size());
  for (std::string_view key : config_keys()) {
    const auto it = defaults.find(std::string(key));
    const std::string shown = it == defaults.end() ? "?"
                              : it->is_string()    ? it->get<std::string>()
                                                   : it->dump();
    std::string line = "  " + std::string(key);
    line.append(width + 4 - line.size(), ' ');
    line += shown;
    line.append(std::max<std::size_t>(line.size() + 2, width + 14) - line.size(), ' ');
    line += key_meaning(key);
    text += line + '\n';
  }
  return text;
}

std::string run_help() {
  std::string backends_text;
  for (const Backend& backend : backends()) {
    backends_text += "  " + std::string(backend.name) +
                     (&backend == &default_backend() ? " (default)" : "") + ": " +
                     std::string(backend.summary) + '\n';
    if (const std::string reason = backend.unavailable_reason(); !reason.empty())
      backends_text += "      cannot run here: " + reason + '\n';
  }
  return "usage: flashmoe run [options] [--KEY VALUE | KEY=VALUE ...]\n"
         "\n"
         "Runs one MoE layer call (forward, and backward with --backward) on every rank — ranks\n"
         "as threads of this process, or one rank per process under mpirun — and prints the\n"
         "configuration, tokens per rank, tokens per expert before and after capacity, dropped\n"
         "slots, losses (when enabled) and timings.\n"
         "\n"
         "options:\n" +
         format_options(run_options()) +
         "\n"
         "configuration keys (defaults shown), set as --KEY VALUE, --KEY=VALUE or KEY=VALUE,\n"
         "applied after --config in command-line order; booleans also as --KEY (true) or\n"
         "--KEY=false:\n" +
         config_keys_help() +
         "\n"
         "backends:\n" +
         backends_text +
         "\n"
         "examples:\n"
         "  flashmoe run --hidden 256 --ffn 512 --experts 8 --ranks 2 --tokens 128 --check\n"
         "  flashmoe run --config layer.json --backward --save /tmp/run1\n"
         "  flashmoe run --load /tmp/run1 --check\n"
         "\n"
         "exit status: 0 success, 1 error, 2 malformed command line, 3 check beyond tolerance.\n";
}

std::string gradcheck_help() {
  return "usage: flashmoe gradcheck [options]\n"
         "\n"
         "Checks the reference's backward pass (dx, dwg, dw1, db1, dw2, db2) against central\n"
         "finite differences of L = Σ ⟨dout, out⟩ + d_aux·l_aux + d_z·l_z in fp64, on tiny\n"
         "layers: for each activation, " +
         std::to_string(gradcheck_cases().size()) + " cases:\n" + gradcheck_cases_help() +
         "Routing is replayed for every perturbed evaluation. A tensor fails when\n"
         "‖analytic − numeric‖ / max(‖numeric‖, 1) > 1e-6.\n"
         "\n"
         "options:\n" +
         format_options(gradcheck_options()) +
         "\n"
         "exit status: 0 every case passes, 1 error, 2 malformed command line, 3 a case failed.\n";
}

}  // namespace flashmoe::cli
