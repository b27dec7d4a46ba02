// flashmoe gradcheck: the reference's gradients against finite differences, over a fixed set
// of tiny layers for every activation (DESIGN §5, rung 2).
#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/gradcheck_options.hpp"
#include "cli/help_text.hpp"
#include "cli/suggest.hpp"
#include "cli/usage_error.hpp"
#include "reference/gradcheck.hpp"

namespace flashmoe::cli {
namespace {

std::vector<Activation> selected_activations(const std::string& name) {
  const std::vector<Activation> all{Activation::relu, Activation::gelu,     Activation::gelu_tanh,
                                    Activation::silu, Activation::identity, Activation::swiglu,
                                    Activation::geglu};
  if (name == "all") return all;
  if (const auto parsed = parse_activation(name)) return {*parsed};
  std::vector<std::string> names{"all"};
  for (Activation a : all) names.emplace_back(to_string(a));
  throw UsageError("--activation: unknown activation '" + name + "'" + did_you_mean(name, names) +
                   " (allowed: " + std::string(activation_names()) + ", all)");
}

std::string scientific(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1e", value);
  return buffer;
}

}  // namespace

int gradcheck_command(const Args& args) {
  const ParsedArgs parsed = parse_args(args, gradcheck_options());
  if (parsed.help) {
    std::cout << gradcheck_help();
    return kExitOk;
  }
  const auto activations = selected_activations(parsed.value("activation").value_or("all"));
  const std::uint64_t seed = parse_unsigned("--seed", parsed.value("seed").value_or("0"));
  const bool verbose = parsed.flag("verbose");

  int failures = 0, runs = 0;
  for (Activation activation : activations) {
    for (const GradcheckCase& k : gradcheck_cases()) {
      reference::GradcheckOptions options;
      options.config = k.config;
      options.config.activation = activation;
      options.world_size = k.world_size;
      options.tokens_per_rank = k.tokens;
      options.seed = seed;
      options.d_aux = k.d_aux;
      options.d_z = k.d_z;
      options.tolerance = kGradcheckTolerance;
      const reference::GradcheckReport report = reference::gradcheck(options);
      ++runs;
      if (!report.passed) ++failures;

      // One line per case: each tensor's error; the full table when asked or when it failed.
      std::cout << (report.passed ? "PASS  " : "FAIL  ") << to_string(activation) << ": " << k.name
                << "\n     ";
      for (const auto& tensor : report.tensors)
        std::cout << ' ' << tensor.tensor << ' ' << scientific(tensor.error);
      std::cout << "  (" << report.checked << " entries, " << report.evaluations
                << " evaluations)\n";
      if (verbose || !report.passed) std::cout << reference::format_report(report) << '\n';
    }
  }
  std::cout << "gradcheck: " << runs - failures << " of " << runs << " cases pass (tolerance "
            << scientific(kGradcheckTolerance) << "): " << (failures ? "FAIL" : "PASS") << '\n';
  return failures ? kExitCheckFailed : kExitOk;
}

}  // namespace flashmoe::cli
