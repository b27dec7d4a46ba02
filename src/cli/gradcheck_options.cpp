#include "cli/gradcheck_options.hpp"

#include "flashmoe/types.hpp"

namespace flashmoe::cli {
namespace {

Config tiny(std::int64_t hidden, std::int64_t ffn, std::int64_t experts, std::int64_t top_k) {
  Config c;
  c.hidden = hidden;
  c.ffn = ffn;
  c.experts = experts;
  c.top_k = top_k;
  c.dtype = DType::fp64;
  c.max_tokens = 16;
  c.aux_loss = true;
  c.z_loss = true;
  return c;
}

std::vector<GradcheckCase> make_cases() {
  std::vector<GradcheckCase> cases;
  {
    GradcheckCase k{"bias, normalized, capacity drops, 2 ranks with 5 and 3 tokens",
                    tiny(5, 3, 4, 2),
                    2,
                    {5, 3},
                    0.3,
                    0.2};
    k.config.capacity_factor = 1.0;
    k.config.bias = true;
    cases.push_back(k);
  }
  {
    GradcheckCase k{"no bias, unnormalized, dropless, 1 rank with 6 tokens",
                    tiny(4, 3, 4, 2),
                    1,
                    {6},
                    0.3,
                    0.2};
    k.config.normalize_weights = false;
    k.config.drop_tokens = false;
    cases.push_back(k);
  }
  {
    GradcheckCase k{"bias, top_k 3 of 6, heavy drops, 3 ranks with 4, 0 and 3 tokens",
                    tiny(4, 2, 6, 3),
                    3,
                    {4, 0, 3},
                    0.3,
                    0.2};
    k.config.capacity_factor = 0.5;
    k.config.bias = true;
    cases.push_back(k);
  }
  return cases;
}

}  // namespace

const std::vector<GradcheckCase>& gradcheck_cases() {
  static const std::vector<GradcheckCase> cases = make_cases();
  return cases;
}

std::string gradcheck_cases_help() {
  std::string text;
  for (const GradcheckCase& k : gradcheck_cases())
    text += "  - H " + std::to_string(k.config.hidden) + ", P " + std::to_string(k.config.ffn) +
            ", E " + std::to_string(k.config.experts) + ": " + k.name + "\n";
  return text;
}

const std::vector<OptionSpec>& gradcheck_options() {
  using Kind = OptionSpec::Kind;
  static const std::vector<OptionSpec> options{
      {"activation", Kind::value, "NAME|all",
       "activation to check: all (default), or one of\n" + std::string(activation_names())},
      {"seed", Kind::value, "N", "seed of the random inputs and weights (default 0)"},
      {"verbose", Kind::flag, "",
       "print every case's full report with its worst entries\n"
       "(by default only failing cases show them)"},
  };
  return options;
}

}  // namespace flashmoe::cli
