// run_benchmark_on: build one random problem, measure the ceiling matmul, then, per pass kind,
// build each backend's layer once (timed as set-up) and time its passes alternately (engine,
// baseline, engine, ...) so that a change in machine load during the run affects both alike.
// run_benchmark: the same with every rank in this process.
#include "bench/benchmark.hpp"

#include <algorithm>
#include <fstream>
#include <memory>
#include <thread>

#include "bench/bench_platform.hpp"
#include "bench/engine_runner.hpp"
#include "bench/timing.hpp"
#include "common/fixed_text.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe::bench {
namespace {

std::string read_load_average() {
  std::ifstream file("/proc/loadavg");
  std::string line;
  std::getline(file, line);
  return line;
}

void check_options(const BenchOptions& o) {
  validate(o.config, o.world_size);
  FLASHMOE_CHECK(o.config.dtype != DType::fp16, "bench: dtype = fp16 is not supported (allowed: ",
                 "fp64, fp32, bf16; the CPU GEMM has no fp16 path)");
  FLASHMOE_CHECK(o.tokens_per_rank >= 0 && o.tokens_per_rank <= o.config.max_tokens,
                 "bench: tokens = ", o.tokens_per_rank,
                 " per rank, allowed 0 ≤ tokens ≤ max_tokens (", o.config.max_tokens, ")");
  FLASHMOE_CHECK(o.workers_per_rank >= 0, "bench: workers = ", o.workers_per_rank, ", must be ≥ 0");
  FLASHMOE_CHECK(o.warmup >= 0, "bench: warmup = ", o.warmup, ", must be ≥ 0");
  FLASHMOE_CHECK(o.repeats >= 1, "bench: repeats = ", o.repeats, ", must be ≥ 1");
  FLASHMOE_CHECK(o.matmul_size >= 0, "bench: matmul size = ", o.matmul_size, ", must be ≥ 0");
}

struct Contender {
  std::string name;
  std::function<std::unique_ptr<LayerSession>(const Problem&)> make;
  bool stages_are_worker_sums;  // the engine's are; the baseline's are phase wall times
};

std::string format_milliseconds(double seconds) {
  return fixed_text(seconds * 1e3, 1) + " ms";
}

// One pass as a loop runs it on a layer it holds: forward, or forward then backward.
double timed_pass(LayerSession& layer, bool backward) {
  const Clock::time_point start = Clock::now();
  layer.forward();
  if (backward) layer.backward();
  return seconds_since(start);
}

Timing summarise(const std::string& backend, const std::string& pass, double setup,
                 std::vector<double> seconds,
                 const std::vector<std::map<std::string, double>>& runs, double flops) {
  Timing t;
  t.setup = setup;
  t.backend = backend;
  t.pass = pass;
  t.seconds = std::move(seconds);
  t.median = median(t.seconds);
  t.min = *std::min_element(t.seconds.begin(), t.seconds.end());
  t.flops = flops;
  t.gflops = t.median > 0.0 ? flops / t.median / 1e9 : 0.0;
  std::map<std::string, std::vector<double>> stages;
  for (const auto& run : runs)
    for (const auto& [name, value] : run) stages[name].push_back(value);
  for (const auto& [name, values] : stages) t.stages[name] = median(values);
  return t;
}

// The routes whose ceiling is measured for `type`: each library that can run it here.
std::vector<cpu::GemmRoute> ceiling_routes(ElementType type) {
  std::vector<cpu::GemmRoute> routes;
  for (const cpu::GemmLibrary library :
       {cpu::GemmLibrary::onednn, cpu::GemmLibrary::openblas, cpu::GemmLibrary::loop})
    if (const std::optional<cpu::GemmPath> path = cpu::path_on(library, type))
      routes.push_back(path->route);
  return routes;
}

// Every rank in this process, as threads.
class InProcessPlatform final : public BenchPlatform {
 public:
  std::string transport() const override { return "in-process"; }
  int hardware_threads() const override {
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  int ranks_on_this_node(const BenchOptions& options) const override { return options.world_size; }
  Problem make_problem(const BenchOptions& o) override {
    return make_random_problem(
        o.config, o.world_size,
        std::vector<std::int64_t>(static_cast<std::size_t>(o.world_size), o.tokens_per_rank),
        o.seed, o.backward);
  }
  std::unique_ptr<LayerSession> make_engine(const Problem& problem,
                                            const engine::EngineOptions& options) override {
    return make_engine_session(problem, options);
  }
  std::unique_ptr<LayerSession> make_baseline(const Problem& problem, int workers) override {
    return make_baseline_session(problem, workers);
  }
  std::vector<MatmulRate> ceilings(std::int64_t size, int workers_per_rank,
                                   const BenchOptions& options) override {
    std::vector<int> thread_counts{1};
    const int threads = workers_per_rank * options.world_size;
    if (threads > 1) thread_counts.push_back(threads);
    std::vector<MatmulRate> rates;
    for (ElementType type : ceiling_types(options))
      for (const cpu::GemmRoute route : ceiling_routes(type))
        for (int count : thread_counts)
          rates.push_back(measure_matmul_rate(type, size, count, 3, route));
    return rates;
  }
};

// Seconds in the forward expert GEMMs: the stages named "forward.expert…" ("forward.expert_gemm"
// of the baseline; "forward.expert_up" + "forward.expert_down" of the engine). 0 when none.
double expert_gemm_seconds(const Timing& t) {
  double seconds = 0.0;
  for (const auto& [name, value] : t.stages)
    if (name.starts_with("forward.expert")) seconds += value;
  return seconds;
}

// Expert GEMM FLOPs per second of expert-GEMM time, as a fraction of the ceiling. The engine
// reports its stages summed over its workers, so its rate is per worker and compares with the
// single-thread ceiling; the baseline's stage is a wall time with every thread in it, so it
// compares with the all-threads ceiling.
void set_expert_fraction(Timing& t, const BenchReport& report) {
  const double seconds = expert_gemm_seconds(t);
  if (seconds <= 0.0) return;
  const ElementType type = storage_type(report.options.config.dtype);
  const MatmulRate* rate = ceiling_rate(report, type, t.backend == "engine" ? 1 : report.threads);
  if (rate == nullptr || rate->gflops <= 0.0) return;
  t.expert_gemm_fraction = report.flops.expert_forward / seconds / 1e9 / rate->gflops;
}

// The engine's expert GEMM classes of one pass (flop_count.hpp's terms: K kept slots, w1 has
// R rows): forward x·W1ᵀ and h·W2ᵀ; backward dh = dy·W2, dx = dz·W1, dW2 = dyᵀ·h, dW1 = dzᵀ·x.
void set_gemm_classes(Timing& t, const BenchReport& report) {
  if (t.backend != "engine") return;
  const Config& c = report.options.config;
  const double K = static_cast<double>(report.flops.kept_slots);
  const double H = static_cast<double>(c.hidden), P = static_cast<double>(c.ffn);
  const double R = static_cast<double>(c.w1_rows());
  struct Class {
    const char* stage;
    cpu::GemmLayout layout;
    double flops;
  };
  std::vector<Class> classes{{"forward.expert_up", cpu::GemmLayout::nt, 2.0 * K * H * R},
                             {"forward.expert_down", cpu::GemmLayout::nt, 2.0 * K * P * H}};
  if (t.pass == "forward+backward") {
    classes.push_back({"backward.expert_grad_hidden", cpu::GemmLayout::nn, 2.0 * K * H * P});
    classes.push_back({"backward.expert_grad_input", cpu::GemmLayout::nn, 2.0 * K * R * H});
    classes.push_back({"backward.weight_grad_down", cpu::GemmLayout::tn, 2.0 * K * H * P});
    classes.push_back({"backward.weight_grad_up", cpu::GemmLayout::tn, 2.0 * K * R * H});
  }
  const ElementType type = storage_type(c.dtype);
  const MatmulRate* ceiling = ceiling_rate(report, type, 1);
  for (const Class& k : classes) {
    const auto stage = t.stages.find(k.stage);
    if (stage == t.stages.end()) continue;
    GemmClassRate rate;
    const std::string_view stage_name = k.stage;
    rate.name = std::string(stage_name.substr(stage_name.find('.') + 1));
    rate.layout = k.layout;
    rate.kernel = cpu::library_and_kernel(cpu::gemm_path(type, k.layout));
    rate.flops = k.flops;
    rate.thread_seconds = stage->second;
    rate.gflops = rate.thread_seconds > 0.0 ? k.flops / rate.thread_seconds / 1e9 : 0.0;
    if (ceiling != nullptr && ceiling->gflops > 0.0) rate.fraction = rate.gflops / ceiling->gflops;
    t.gemm_classes.push_back(rate);
  }
}

}  // namespace

const MatmulRate* ceiling_rate(const BenchReport& report, ElementType type, int threads) {
  const MatmulRate* best = nullptr;
  for (const MatmulRate& rate : report.matmul)
    if (rate.type == type && rate.threads == threads && (best == nullptr || rate.gflops > best->gflops))
      best = &rate;
  return best;
}

std::vector<ElementType> ceiling_types(const BenchOptions& options) {
  std::vector<ElementType> types{ElementType::bf16, ElementType::f32};
  if (options.config.dtype == DType::fp64) types.push_back(ElementType::f64);
  return types;
}

std::int64_t BenchPlatform::job_kept_slots(const Results& results) {
  return kept_slots(results);
}

BenchReport run_benchmark_on(BenchPlatform& platform, const BenchOptions& options,
                             const Progress& progress) {
  check_options(options);
  BenchReport report;
  report.options = options;
  report.transport = platform.transport();
  report.hardware_threads = platform.hardware_threads();
  report.workers_per_rank =
      options.workers_per_rank > 0
          ? options.workers_per_rank
          : std::max(1, report.hardware_threads / platform.ranks_on_this_node(options));
  report.threads = report.workers_per_rank * options.world_size;
  report.load_average = read_load_average();
  report.cpu = cpu::cpu_description();
  for (ElementType type : {ElementType::f64, ElementType::f32, ElementType::bf16})
    report.gemm_paths.push_back(cpu::gemm_path(type));

  progress("generating inputs: " + std::to_string(options.world_size) + " ranks × " +
           std::to_string(options.tokens_per_rank) + " tokens");
  Problem problem = platform.make_problem(options);

  if (options.matmul_size > 0) {
    std::string types;
    for (ElementType type : ceiling_types(options))
      types += (types.empty() ? "" : ", ") + std::string(to_string(type));
    progress("ceiling: " + types + " matmuls " + std::to_string(options.matmul_size) +
             "³, one call per thread");
    report.matmul = platform.ceilings(options.matmul_size, report.workers_per_rank, options);
  }

  const int workers = report.workers_per_rank;
  engine::EngineOptions engine_options;
  engine_options.workers_per_rank = workers;
  engine_options.group_size = options.group_size;
  engine_options.scheduling = options.scheduling;
  std::vector<Contender> contenders;
  contenders.push_back(
      {"engine", [&](const Problem& p) { return platform.make_engine(p, engine_options); }, true});
  contenders.push_back(
      {"baseline", [&](const Problem& p) { return platform.make_baseline(p, workers); }, false});

  std::vector<std::pair<std::string, bool>> passes{{"forward", false}};
  if (options.backward) passes.emplace_back("forward+backward", true);
  bool flops_counted = false;
  for (const auto& [pass, backward] : passes) {
    problem.backward = backward;  // the baseline keeps z for a backward only when asked
    std::vector<std::unique_ptr<LayerSession>> layers;
    std::vector<double> setup;
    for (const Contender& contender : contenders) {
      platform.start_pass();
      const Clock::time_point start = Clock::now();
      layers.push_back(contender.make(problem));
      setup.push_back(platform.job_seconds(seconds_since(start)));
      progress(pass + " " + contender.name + " set-up: " + format_milliseconds(setup.back()));
    }
    std::vector<std::vector<double>> seconds(contenders.size());
    std::vector<std::vector<std::map<std::string, double>>> stages(contenders.size());
    for (int call = 0; call < options.warmup + options.repeats; ++call) {
      const bool timed = call >= options.warmup;
      for (std::size_t i = 0; i < contenders.size(); ++i) {
        platform.start_pass();
        const double s = platform.job_seconds(timed_pass(*layers[i], backward));
        progress(pass + " " + contenders[i].name + (timed ? " run " : " warm-up ") +
                 std::to_string(timed ? call - options.warmup + 1 : call + 1) + "/" +
                 std::to_string(timed ? options.repeats : options.warmup) + ": " +
                 format_milliseconds(s));
        const Results& results = layers[i]->results();
        // FLOPs are credited from the routing the baseline used (the engine's is the same
        // by SPEC §2.5; it does not depend on the pass).
        if (contenders[i].name == "baseline" && !flops_counted) {
          report.flops = count_flops(options.config, options.world_size * options.tokens_per_rank,
                                     platform.job_kept_slots(results));
          flops_counted = true;
        }
        if (!timed) continue;
        seconds[i].push_back(s);
        stages[i].push_back(
            platform.job_stages(results.seconds, contenders[i].stages_are_worker_sums));
      }
    }
    const double flops = backward ? report.flops.forward_backward() : report.flops.forward();
    for (std::size_t i = 0; i < contenders.size(); ++i) {
      Timing t = summarise(contenders[i].name, pass, setup[i], seconds[i], stages[i], flops);
      set_expert_fraction(t, report);
      set_gemm_classes(t, report);
      report.timings.push_back(std::move(t));
    }
    const double engine = report.timings[report.timings.size() - 2].median;
    const double baseline = report.timings.back().median;
    if (engine > 0.0) report.speedup[pass] = baseline / engine;
  }
  return report;
}

BenchReport run_benchmark(const BenchOptions& options, const Progress& progress) {
  InProcessPlatform platform;
  return run_benchmark_on(platform, options, progress);
}

}  // namespace flashmoe::bench
