// flashmoe_cuda_bench's options and its one entry point (cuda_bench.cpp); the command line is
// parsed in cuda_bench_main.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flashmoe/types.hpp"

namespace flashmoe::bench::cuda {

// Defaults: the seed system's grid (FlashDMoE's paper and ../shared/ANCHORS.md).
struct CudaBenchOptions {
  std::vector<std::int64_t> tokens = {4096, 8192, 16384};
  std::vector<std::int64_t> experts = {32, 64};
  std::vector<std::string> dtypes = {"bf16", "tf32"};
  std::int64_t hidden = 2048;
  std::int64_t ffn = 2048;
  std::int64_t top_k = 2;
  double capacity_factor = 1.25;
  Activation activation = Activation::gelu;
  int repeats = 5;
  int device = 0;
  std::uint64_t seed = 1;
  std::string out = "bench/results";
};

// Runs the grid; returns the process's exit status: 0, 1 when no usable GPU is present (the
// reason on stderr), 3 when a row's engine and baseline disagree beyond the tolerance.
// `command` is recorded in the results. Throws flashmoe::Error on any other failure.
int run_cuda_bench(const CudaBenchOptions& options, const std::string& command);

}  // namespace flashmoe::bench::cuda
