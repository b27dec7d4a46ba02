#include "cli/backends.hpp"

#include "cli/suggest.hpp"
#include "cli/usage_error.hpp"
#include "reference/reference.hpp"
#include "runtime/engine.hpp"

namespace flashmoe::cli {
namespace {

// The reference computes in fp64 for fp64 layers and in fp32 otherwise: bf16 and fp16 inputs
// are exact in fp32, and fp32 accumulation is what SPEC §4 prescribes for them.
Results run_reference(const Problem& problem, const BackendOptions& /*options*/) {
  const auto precision =
      problem.config.dtype == DType::fp64 ? reference::Precision::fp64 : reference::Precision::fp32;
  return reference::run(problem, precision);
}

// The fused engine with every rank as a group of threads in this process.
Results run_cpu_engine(const Problem& problem, const BackendOptions& options) {
  engine::EngineOptions engine_options;
  engine_options.workers_per_rank = options.workers_per_rank;
  engine_options.trace_path = options.trace_path;
  return engine::run_in_process(problem, engine_options);
}

bool cpu_engine_supports(const Config& config) {
  return config.dtype != DType::fp16;
}

std::vector<Backend> make_table() {
  std::vector<Backend> table;
  // Engines are registered here, fastest first: the first entry is the default backend.
  table.push_back({"cpu",
                   "the fused engine: one persistent tile-pipelined program per rank, ranks as "
                   "threads (fp64, fp32, bf16)",
                   true, true, &run_cpu_engine, &cpu_engine_supports});
  table.push_back({"reference", "naive fp64/fp32 implementation of SPEC (the oracle; slow)", false,
                   false, &run_reference});
  return table;
}

}  // namespace

const std::vector<Backend>& backends() {
  static const std::vector<Backend> table = make_table();
  return table;
}

const Backend& default_backend() {
  return backends().front();
}

const Backend& default_backend_for(const Config& config) {
  for (const Backend& backend : backends())
    if (backend.supports == nullptr || backend.supports(config)) return backend;
  return backends().back();
}

std::string backend_names() {
  std::string names;
  for (const Backend& backend : backends())
    names += (names.empty() ? "" : ", ") + std::string(backend.name);
  return names;
}

const Backend& find_backend(std::string_view name) {
  std::vector<std::string> names;
  for (const Backend& backend : backends()) {
    if (backend.name == name) return backend;
    names.emplace_back(backend.name);
  }
  throw UsageError("unknown backend '" + std::string(name) + "'" + did_you_mean(name, names) +
                   " (available: " + backend_names() + ")");
}

}  // namespace flashmoe::cli
