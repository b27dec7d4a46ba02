#include "backends/backends.hpp"

#include "engine/engine.hpp"
#include "reference/reference.hpp"

namespace flashmoe::backends {
namespace {

// The reference computes in fp64 for fp64 layers and in fp32 otherwise: bf16 and fp16 inputs
// are exact in fp32, and fp32 accumulation is what SPEC §4 prescribes for them.
Results run_reference(const Problem& problem, const Options& /*options*/) {
  const auto precision =
      problem.config.dtype == DType::fp64 ? reference::Precision::fp64 : reference::Precision::fp32;
  return reference::run(problem, precision);
}

// The fused engine with every rank as a group of threads in this process.
Results run_cpu_engine(const Problem& problem, const Options& options) {
  return engine::run_in_process(problem, engine_options_from(options));
}

bool cpu_engine_supports(const Config& config) {
  return config.dtype != DType::fp16;
}

std::vector<Backend> make_table() {
  return {
      {"cpu",
       "the fused engine: one persistent tile-pipelined program per rank, ranks as threads "
       "(fp64, fp32, bf16)",
       true, true, &run_cpu_engine, &cpu_engine_supports},
      {"reference", "naive fp64/fp32 implementation of SPEC (the oracle; slow)", false, false,
       &run_reference, nullptr},
  };
}

}  // namespace

engine::EngineOptions engine_options_from(const Options& options) {
  engine::EngineOptions engine_options;
  engine_options.workers_per_rank = options.workers_per_rank;
  engine_options.trace_path = options.trace_path;
  engine_options.group_size = options.group_size;
  engine_options.scheduling =
      options.dedicated_roles ? runtime::Scheduling::dedicated : runtime::Scheduling::shared;
  engine_options.subscribers = options.subscribers;
  return engine_options;
}

const std::vector<Backend>& all() {
  static const std::vector<Backend> table = make_table();
  return table;
}

const Backend& default_for(const Config& config) {
  for (const Backend& backend : all())
    if (backend.runs(config)) return backend;
  return all().back();
}

const Backend* find(std::string_view name) {
  for (const Backend& backend : all())
    if (backend.name == name) return &backend;
  return nullptr;
}

std::string names() {
  std::string list;
  for (const Backend& backend : all())
    list += (list.empty() ? "" : ", ") + std::string(backend.name);
  return list;
}

}  // namespace flashmoe::backends
