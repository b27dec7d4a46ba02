// Where the benchmark's ranks live: the driver (benchmark.cpp) is written once against this
// interface; the in-process platform (benchmark.cpp) runs every rank as threads of this
// process, the MPI one (bench/mpi/mpi_benchmark.cpp) this process's rank of an MPI job, and
// supplies the job-wide view of each measurement (the slowest rank's pass time, stage times
// over all ranks, routing counts over all ranks).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/benchmark.hpp"
#include "bench/engine_runner.hpp"
#include "engine/engine.hpp"

namespace flashmoe::bench {

class BenchPlatform {
 public:
  virtual ~BenchPlatform() = default;
  // "in-process" or "mpi", for the report.
  virtual std::string transport() const = 0;
  // Hardware threads of this node, and how many of the job's ranks share them.
  virtual int hardware_threads() const = 0;
  virtual int ranks_on_this_node(const BenchOptions& options) const = 0;
  // The inputs of this process's ranks (other entries may be empty).
  virtual Problem make_problem(const BenchOptions& options) = 0;
  virtual std::unique_ptr<LayerSession> make_engine(const Problem& problem,
                                                    const engine::EngineOptions& options) = 0;
  virtual std::unique_ptr<LayerSession> make_baseline(const Problem& problem, int workers) = 0;
  // Called before every timed or warm-up pass: ranks start a pass together.
  virtual void start_pass() {}
  // A pass's time for the whole job, from this process's.
  virtual double job_seconds(double local) { return local; }
  // A backend's stage times for the whole job: summed over ranks (`sum`, for stages that are
  // already sums over workers) or the slowest rank's (wall times of a phase).
  virtual std::map<std::string, double> job_stages(const std::map<std::string, double>& local,
                                                   bool sum) {
    (void)sum;
    return local;
  }
  // Kept slots over the job, from this process's results.
  virtual std::int64_t job_kept_slots(const Results& results);
  // The ceiling matmul with one thread per caller and with every thread the job uses.
  virtual std::vector<MatmulRate> ceilings(std::int64_t size, int workers_per_rank,
                                           const BenchOptions& options) = 0;
  // Whether this process prints the report (rank 0).
  virtual bool reports() const { return true; }
};

// The operand types whose ceiling a benchmark measures: every type the engine's tile GEMM runs
// here that the report compares with — bf16 and f32 always, f64 when the bench runs fp64
// (its plain loop is slow, so only then).
std::vector<ElementType> ceiling_types(const BenchOptions& options);

// The benchmark on `platform`; the report is complete where platform.reports().
BenchReport run_benchmark_on(BenchPlatform& platform, const BenchOptions& options,
                             const Progress& progress);

}  // namespace flashmoe::bench
