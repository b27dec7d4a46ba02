// The hardware-ish ceiling the benchmark compares against: the rate of the project's own tile
// GEMM (platform/cpu/gemm.hpp) on one large square matmul C = A·B, on the process's path or on
// a given library's route (the ceiling is the best of the libraries available).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "flashmoe/types.hpp"
#include "platform/cpu/gemm_paths.hpp"

namespace flashmoe::bench {

struct MatmulRate {
  ElementType type = ElementType::f32;
  std::int64_t size = 0;  // n of the n×n×n product
  int threads = 1;        // concurrent callers, each with its own operands
  double seconds = 0.0;   // median wall time of one round (every thread one product)
  double gflops = 0.0;    // threads · 2n³ / seconds / 1e9
  cpu::GemmRoute route = cpu::GemmRoute::onednn;  // the route it took (gemm_paths.hpp)
  std::string kernel;  // its library and kernel, e.g. "oneDNN brg:avx512_core", "OpenBLAS Haswell"
};

// Each of `threads` threads calls gemm() on its own n×n operands (A, B of `type`, C f32 — or
// f64 for f64 operands),
// `repeats` timed rounds after one warm-up round; the median round is reported. This is how
// the engine uses the library — one single-threaded call per worker — so threads = workers
// gives the ceiling for all of them together, on the path the engine takes for `type`. Throws
// for threads < 1, size < 1, repeats < 1, and rethrows (after every thread stopped) what a
// thread's gemm() threw. With `route`, every call takes that route (cpu::gemm_on) instead.
MatmulRate measure_matmul_rate(ElementType type, std::int64_t size, int threads, int repeats,
                               std::optional<cpu::GemmRoute> route = std::nullopt);

}  // namespace flashmoe::bench
