// The command line of flashmoe_cuda_bench (cuda_bench.hpp): options in, exit status out; every
// error is one `flashmoe_cuda_bench: error: ...` line and a non-zero status, never an escaped
// exception.
#include <charconv>
#include <cstdio>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

#include "bench/cuda/cuda_bench.hpp"
#include "flashmoe/error.hpp"

namespace {

using flashmoe::bench::cuda::CudaBenchOptions;

constexpr const char* kUsage = R"(usage: flashmoe_cuda_bench [options]

Benchmarks the GPU engine (one persistent kernel per pass) against an unfused cuBLAS pipeline
and cuBLAS dense GEMM on the same FLOPs, in one run, forward and forward+backward; checks that
engine and baseline agree on every row. Writes <date>-<gpu>.md and .json into --out.
Needs a CUDA GPU of compute capability 8.0 or newer (exit status 1 and the reason otherwise).

options (defaults: the seed system's grid):
  --tokens LIST        token counts, comma-separated              (4096,8192,16384)
  --experts LIST       expert counts                              (32,64)
  --dtypes LIST        bf16, fp16 and/or tf32 (fp32 layers, tf32 GEMMs)  (bf16,tf32)
  --hidden N           H                                          (2048)
  --ffn N              P                                          (2048)
  --top_k N            k                                          (2)
  --capacity_factor X  capacity factor                            (1.25)
  --activation NAME    a non-gated activation                     (gelu)
  --repeats N          timed passes per row (median), after one warm-up (5)
  --device N           CUDA device                                (0)
  --seed N             input seed                                 (1)
  --out DIR            where the results go                       (bench/results)
  --quick              a small grid for a smoke test: 1024,2048 tokens, 8 experts,
                       H = P = 512, bf16, 2 repeats (other options may follow it)
  --help               this text

exit status: 0 done, 1 no usable GPU, 2 bad option, 3 engine and baseline disagree, 4 error)";

[[noreturn]] void bad_option(const std::string& message) {
  std::cerr << "flashmoe_cuda_bench: error: " << message << " (see --help)\n";
  std::exit(2);
}

std::int64_t parse_integer(std::string_view option, std::string_view text, std::int64_t least) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < least)
    bad_option(flashmoe::detail::concat(option, " wants an integer ≥ ", least, ", not '", text,
                                        "'"));
  return value;
}

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> parts;
  std::stringstream in{std::string(text)};
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

std::vector<std::int64_t> parse_integers(std::string_view option, std::string_view text) {
  std::vector<std::int64_t> values;
  for (const std::string& part : split(text)) values.push_back(parse_integer(option, part, 1));
  if (values.empty()) bad_option(flashmoe::detail::concat(option, " wants at least one value"));
  return values;
}

CudaBenchOptions parse(int argc, char** argv) {
  CudaBenchOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view option = argv[i];
    if (option == "--help" || option == "-h") {
      std::cout << kUsage << "\n";
      std::exit(0);
    }
    if (option == "--quick") {
      o.tokens = {1024, 2048};
      o.experts = {8};
      o.dtypes = {"bf16"};
      o.hidden = o.ffn = 512;
      o.repeats = 2;
      continue;
    }
    if (i + 1 >= argc) bad_option(flashmoe::detail::concat("unknown option or no value: ", option));
    const std::string_view value = argv[++i];
    if (option == "--tokens") {
      o.tokens = parse_integers(option, value);
    } else if (option == "--experts") {
      o.experts = parse_integers(option, value);
    } else if (option == "--dtypes") {
      o.dtypes = split(value);
      if (o.dtypes.empty()) bad_option("--dtypes wants bf16, fp16 and/or tf32");
      for (const std::string& d : o.dtypes)
        if (d != "bf16" && d != "fp16" && d != "tf32")
          bad_option(flashmoe::detail::concat("--dtypes: '", d, "' (allowed: bf16, fp16, tf32)"));
    } else if (option == "--hidden") {
      o.hidden = parse_integer(option, value, 1);
    } else if (option == "--ffn") {
      o.ffn = parse_integer(option, value, 1);
    } else if (option == "--top_k") {
      o.top_k = parse_integer(option, value, 1);
    } else if (option == "--capacity_factor") {
      try {
        std::size_t used = 0;
        o.capacity_factor = std::stod(std::string(value), &used);
        if (used != value.size() || !(o.capacity_factor > 0.0)) throw std::invalid_argument("");
      } catch (const std::exception&) {
        bad_option(flashmoe::detail::concat("--capacity_factor wants a number > 0, not '", value,
                                            "'"));
      }
    } else if (option == "--activation") {
      const auto activation = flashmoe::parse_activation(value);
      if (!activation || flashmoe::is_gated(*activation))
        bad_option(flashmoe::detail::concat("--activation: '", value,
                                            "' (allowed: relu, gelu, gelu_tanh, silu, identity)"));
      o.activation = *activation;
    } else if (option == "--repeats") {
      o.repeats = static_cast<int>(parse_integer(option, value, 1));
    } else if (option == "--device") {
      o.device = static_cast<int>(parse_integer(option, value, 0));
    } else if (option == "--seed") {
      o.seed = static_cast<std::uint64_t>(parse_integer(option, value, 0));
    } else if (option == "--out") {
      o.out = value;
    } else {
      bad_option(flashmoe::detail::concat("unknown option ", option));
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const CudaBenchOptions options = parse(argc, argv);
  std::string command = "flashmoe_cuda_bench";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  try {
    return flashmoe::bench::cuda::run_cuda_bench(options, command);
  } catch (const std::exception& error) {
    std::cerr << "flashmoe_cuda_bench: error: " << error.what() << "\n";
    return 4;
  }
}
