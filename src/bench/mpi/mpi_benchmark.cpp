// The benchmark's MPI platform: this process is one rank of the job. Every measurement the
// driver takes locally is turned into the job's (slowest rank, sum over ranks) here, with
// collectives every rank enters in the same order because the driver's sequence of calls is
// the same on every rank.
#include "bench/mpi/mpi_benchmark.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <thread>

#include "bench/bench_platform.hpp"
#include "bench/mpi/mpi_baseline.hpp"
#include "bench/timing.hpp"
#include "engine/engine.hpp"
#include "engine/mpi_layer.hpp"
#include "flashmoe/error.hpp"
#include "transport/mpi/config_handshake.hpp"
#include "transport/mpi/mpi_check.hpp"
#include "transport/mpi/mpi_session.hpp"

namespace flashmoe::bench {
namespace {

// Each rank's `value`, on rank 0 (empty elsewhere).
std::vector<double> gather_on_root(MPI_Comm comm, double value, int rank, int size) {
  std::vector<double> values(rank == 0 ? static_cast<std::size_t>(size) : 0);
  FLASHMOE_MPI(MPI_Gather(&value, 1, MPI_DOUBLE, values.data(), 1, MPI_DOUBLE, 0, comm));
  return values;
}

// Each rank's text, on rank 0 (empty elsewhere).
std::vector<std::string> gather_text_on_root(MPI_Comm comm, const std::string& text, int rank,
                                             int size) {
  const int length = static_cast<int>(text.size());
  std::vector<int> lengths(rank == 0 ? static_cast<std::size_t>(size) : 0);
  FLASHMOE_MPI(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, comm));
  std::vector<int> first(lengths.size(), 0);
  for (std::size_t r = 1; r < lengths.size(); ++r) first[r] = first[r - 1] + lengths[r - 1];
  std::string joined(lengths.empty() ? 0 : static_cast<std::size_t>(first.back() + lengths.back()),
                     '\0');
  FLASHMOE_MPI(MPI_Gatherv(text.data(), length, MPI_CHAR, joined.data(), lengths.data(),
                           first.data(), MPI_CHAR, 0, comm));
  std::vector<std::string> texts;
  for (std::size_t r = 0; r < lengths.size(); ++r)
    texts.push_back(
        joined.substr(static_cast<std::size_t>(first[r]), static_cast<std::size_t>(lengths[r])));
  return texts;
}

class MpiPlatform final : public BenchPlatform {
 public:
  explicit MpiPlatform(MPI_Comm comm) : comm_(comm) {
    FLASHMOE_MPI(MPI_Comm_rank(comm_, &rank_));
    FLASHMOE_MPI(MPI_Comm_size(comm_, &size_));
    ranks_on_node_ = transport::processes_on_this_node(comm_);
  }

  std::string transport() const override { return "mpi"; }
  int hardware_threads() const override {
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  int ranks_on_this_node(const BenchOptions&) const override { return ranks_on_node_; }

  Problem make_problem(const BenchOptions& o) override {
    FLASHMOE_CHECK(o.world_size == size_, "bench: ", o.world_size, " ranks requested but the MPI ",
                   "job has ", size_, " processes: under MPI every process is one rank");
    // Only this rank's inputs: the job holds every expert's weights once, not once per rank.
    return make_random_rank_problem(
        o.config, o.world_size,
        std::vector<std::int64_t>(static_cast<std::size_t>(o.world_size), o.tokens_per_rank),
        o.seed, o.backward, 0.0, 0.0, rank_);
  }
  std::unique_ptr<LayerSession> make_engine(const Problem& problem,
                                            const engine::EngineOptions& options) override {
    return std::make_unique<LayerSessionOf<engine::Layer>>(
        engine::mpi_layer(comm_, problem, options));
  }
  std::unique_ptr<LayerSession> make_baseline(const Problem& problem, int workers) override {
    return std::make_unique<LayerSessionOf<BaselineLayer>>(
        make_mpi_baseline(comm_, problem, BaselineOptions{.workers_per_rank = workers}));
  }

  void start_pass() override { FLASHMOE_MPI(MPI_Barrier(comm_)); }
  double job_seconds(double local) override {
    double slowest = 0.0;
    FLASHMOE_MPI(MPI_Allreduce(&local, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm_));
    return slowest;
  }
  std::map<std::string, double> job_stages(const std::map<std::string, double>& local,
                                           bool sum) override {
    std::ostringstream text;
    for (const auto& [name, value] : local) {
      char number[32];
      std::snprintf(number, sizeof number, "%.17g", value);
      text << name << '\t' << number << '\n';
    }
    std::map<std::string, double> job;
    for (const std::string& rank_text : gather_text_on_root(comm_, text.str(), rank_, size_)) {
      std::istringstream lines(rank_text);
      std::string name, number;
      while (std::getline(lines, name, '\t') && std::getline(lines, number)) {
        const double value = std::stod(number);
        auto [it, inserted] = job.emplace(name, value);
        if (!inserted) it->second = sum ? it->second + value : std::max(it->second, value);
      }
    }
    return job;
  }
  std::int64_t job_kept_slots(const Results& results) override {
    const std::int64_t local = kept_slots(results);
    std::int64_t total = 0;
    FLASHMOE_MPI(MPI_Allreduce(&local, &total, 1, MPI_INT64_T, MPI_SUM, comm_));
    return total;
  }

  // Every process measures at once, as the backends run: the 1-thread entry is the median
  // process's rate (what one worker gets while every process works), the job entry the sum of
  // the processes' rates with `workers` threads each.
  std::vector<MatmulRate> ceilings(std::int64_t size, int workers,
                                   const BenchOptions& options) override {
    std::vector<MatmulRate> rates;
    for (ElementType type : ceiling_types(options)) {
      start_pass();
      const MatmulRate one = measure_matmul_rate(type, size, 1, 3);
      const std::vector<double> one_rates = gather_on_root(comm_, one.gflops, rank_, size_);
      MatmulRate per_thread = one;
      per_thread.gflops = median(one_rates);
      rates.push_back(per_thread);

      const int job_threads = workers * options.world_size;
      if (job_threads == 1) continue;
      MatmulRate mine = one;
      if (workers > 1) {
        start_pass();
        mine = measure_matmul_rate(type, size, workers, 3);
      }
      const std::vector<double> job_rates = gather_on_root(comm_, mine.gflops, rank_, size_);
      MatmulRate job = mine;
      job.threads = job_threads;
      job.seconds = job_seconds(mine.seconds);
      job.gflops = 0.0;
      for (const double rate : job_rates) job.gflops += rate;
      rates.push_back(job);
    }
    return rates;
  }
  bool reports() const override { return rank_ == 0; }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1, ranks_on_node_ = 1;
};

// The benchmark's own options must agree too: a rank with other repeats or sizes would enter
// a different sequence of collectives and the job would hang instead of failing.
void check_same_options(MPI_Comm comm, const BenchOptions& o) {
  const std::vector<std::pair<const char*, std::int64_t>> fields{
      {"ranks", o.world_size},         {"tokens", o.tokens_per_rank},
      {"workers", o.workers_per_rank}, {"warmup", o.warmup},
      {"repeats", o.repeats},          {"backward", o.backward ? 1 : 0},
      {"matmul_size", o.matmul_size},  {"seed", static_cast<std::int64_t>(o.seed)}};
  std::vector<std::int64_t> values, lowest(fields.size()), highest(fields.size());
  for (const auto& field : fields) values.push_back(field.second);
  const int count = static_cast<int>(values.size());
  FLASHMOE_MPI(MPI_Allreduce(values.data(), lowest.data(), count, MPI_INT64_T, MPI_MIN, comm));
  FLASHMOE_MPI(MPI_Allreduce(values.data(), highest.data(), count, MPI_INT64_T, MPI_MAX, comm));
  for (std::size_t i = 0; i < fields.size(); ++i)
    FLASHMOE_CHECK(lowest[i] == highest[i], "bench: the ranks were given different --",
                   fields[i].first, " (from ", lowest[i], " to ", highest[i],
                   "); every rank of the job must run the same benchmark");
}

}  // namespace

BenchReport run_mpi_benchmark(MPI_Comm comm, const BenchOptions& options,
                              const Progress& progress) {
  transport::check_same_config(comm, options.config);
  check_same_options(comm, options);
  MpiPlatform platform(comm);
  return run_benchmark_on(platform, options, progress);
}

}  // namespace flashmoe::bench
