#include "cli/backends.hpp"

#include "cli/suggest.hpp"
#include "cli/usage_error.hpp"
#include "reference/reference.hpp"

namespace flashmoe::cli {
namespace {

// The reference computes in fp64 for fp64 layers and in fp32 otherwise: bf16 and fp16 inputs
// are exact in fp32, and fp32 accumulation is what SPEC §4 prescribes for them.
Results run_reference(const Problem& problem, const BackendOptions& /*options*/) {
  const auto precision =
      problem.config.dtype == DType::fp64 ? reference::Precision::fp64 : reference::Precision::fp32;
  return reference::run(problem, precision);
}

std::vector<Backend> make_table() {
  std::vector<Backend> table;
  // Engines are registered here, fastest first: the first entry is the default backend.
  // (The in-process `cpu` engine, engine::run_in_process, goes here when it is built.)
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
