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

// One class of the engine's expert GEMMs (an engine task kind) in one pass: its rate per worker
// thread against the single-thread ceiling, with the operand layout and the kernel it ran on.
// A class's time is its tasks' time, so it includes the tile's epilogue (activation, or its
// backward) and the row copies around the GEMM.
struct GemmClassRate {
  std::string name;  // the task kind: expert_up, expert_down (forward); expert_grad_hidden (dh),
                     // expert_grad_input (dx), weight_grad_down (dW2), weight_grad_up (dW1)
  cpu::GemmLayout layout = cpu::GemmLayout::nt;
  std::string kernel;           // library and kernel of that layout's path
  double flops = 0.0;           // credited FLOPs of the class in one pass (flop_count.hpp)
  double thread_seconds = 0.0;  // median over passes of the worker-seconds in its tasks
  double gflops = 0.0;          // flops / thread_seconds / 1e9: the rate of one worker
  double fraction = -1.0;       // of the best 1-thread ceiling of the type; < 0 when unknown
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
  std::vector<GemmClassRate> gemm_classes;  // the engine's, per class; empty for the baseline
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
  // Every library's ceiling per type and thread count; the ceiling of a type is the best.
  std::vector<MatmulRate> matmul;
  std::vector<Timing> timings;
  std::map<std::string, double> speedup;  // pass → baseline median / engine median
};

using Progress = std::function<void(const std::string&)>;

// The ceiling of `type` with `threads` concurrent callers: the best library's measured rate, or
// nullptr when none was measured.
const MatmulRate* ceiling_rate(const BenchReport& report, ElementType type, int threads);

// Throws flashmoe::Error for invalid options (naming the option) or a failing backend.
BenchReport run_benchmark(const BenchOptions& options, const Progress& progress);

// The human-readable table and the JSON document (docs/benchmarks.md describes both).
std::string format_report(const BenchReport& report);
std::string report_to_json(const BenchReport& report);

}  // namespace flashmoe::bench
