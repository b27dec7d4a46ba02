// `flashmoe gradcheck`: its options and the fixed set of tiny layers it checks for every
// activation. The cases cover bias on/off, normalised/unnormalised weights, capacity drops and
// dropless routing, uneven and empty ranks, and non-zero d_aux / d_z.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/arg_parser.hpp"
#include "flashmoe/config.hpp"

namespace flashmoe::cli {

struct GradcheckCase {
  std::string name;
  Config config;  // activation and dtype are set per run
  int world_size = 1;
  std::vector<std::int64_t> tokens;
  double d_aux = 0.0;
  double d_z = 0.0;
};

const std::vector<GradcheckCase>& gradcheck_cases();
std::string gradcheck_cases_help();  // one indented line per case
const std::vector<OptionSpec>& gradcheck_options();

// The largest accepted gradient error (DESIGN §5 rung 2: the fp64 reference is exact to this).
inline constexpr double kGradcheckTolerance = 1e-6;

}  // namespace flashmoe::cli
