// `flashmoe bench`: in one run, after warm-up, the median of repeated passes of the fused engine
// and of the bulk-synchronous baseline on the same problem, each backend's layer built once
// (its set-up timed apart) and reused by every pass as a training or serving loop would, plus the
// library's large square matmul rate as the ceiling both are measured against (docs/benchmarks.md).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/flop_count.hpp"
#include "bench/matmul_rate.hpp"
#include "flashmoe/config.hpp"
#include "runtime/program.hpp"

namespace flashmoe::bench {

struct BenchOptions {
  Config config;       // the layer; dtype fp16 is refused (no CPU GEMM for it)
  int world_size = 2;  // W: ranks as threads of this process, or the MPI job's processes
  std::int64_t tokens_per_rank = 2048;
  int workers_per_rank = 0;  // 0: max(1, hardware threads / ranks on this node), as the engine
  int warmup = 2;            // untimed passes per backend and pass kind
  int repeats = 5;           // timed passes per backend and pass kind
  bool backward = false;     // also time forward+backward
  std::int64_t matmul_size = 2048;  // n of the n³ ceiling matmul; 0 skips it
  std::uint64_t seed = 0;
  // The engine's program: threads per processor group and its scheduling mode (same bits,
  // other speed; the baseline has no such thing).
  int group_size = 1;
  runtime::Scheduling scheduling = runtime::Scheduling::shared;
};

// One backend on one pass ("forward" or "forward+backward").
struct Timing {
  std::string backend;  // "engine" or "baseline"
  std::string pass;
  double setup = 0.0;           // building the layer once (workspaces, threads), not in passes
  std::vector<double> seconds;  // wall time of every timed pass on that one layer
  double median = 0.0, min = 0.0;
  double flops = 0.0;                    // credited FLOPs of one call (flop_count.hpp)
  double gflops = 0.0;                   // flops / median / 1e9
  std::map<std::string, double> stages;  // median of each Results.seconds entry
  // Expert GEMM rate as a fraction of the ceiling matmul rate; < 0 when not measurable.
  double expert_gemm_fraction = -1.0;
};

struct BenchReport {
  BenchOptions options;
  std::string transport;     // where the ranks ran: "in-process" (threads) or "mpi" (processes)
  int threads = 0;           // W × workers_per_rank
  int workers_per_rank = 0;  // as resolved
  int hardware_threads = 0;
  std::string load_average;  // /proc/loadavg at the start, for the record
  // The machine and the GEMM path of every operand type (of rank 0's process under MPI), so
  // that every number in the report says what produced it.
  cpu::CpuDescription cpu;
  std::vector<cpu::GemmPath> gemm_paths;  // f64, f32, bf16
  FlopCount flops;                        // from the baseline's routing
  std::vector<MatmulRate> matmul;
  std::vector<Timing> timings;
  std::map<std::string, double> speedup;  // pass → baseline median / engine median
};

using Progress = std::function<void(const std::string&)>;

// Throws flashmoe::Error for invalid options (naming the option) or a failing backend.
BenchReport run_benchmark(const BenchOptions& options, const Progress& progress);

// The human-readable table and the JSON document (docs/benchmarks.md describes both).
std::string format_report(const BenchReport& report);
std::string report_to_json(const BenchReport& report);

}  // namespace flashmoe::bench
