#include "backend_table.hpp"

#include "errors.hpp"
#include "reference/reference.hpp"
#if FLASHMOE_PYTHON_HAVE_ENGINE
#include "runtime/engine.hpp"
#endif

namespace flashmoe::python {
namespace {

// fp64 layers are checked in fp64; every other dtype computes in fp32 (bf16/fp16 values widen
// exactly and fp32 accumulation is what SPEC §4 prescribes for them).
Results run_reference(const Problem& problem) {
  const auto precision =
      problem.config.dtype == DType::fp64 ? reference::Precision::fp64 : reference::Precision::fp32;
  return reference::run(problem, precision);
}

#if FLASHMOE_PYTHON_HAVE_ENGINE
Results run_engine(const Problem& problem) {
  return engine::run_in_process(problem);
}
#endif

std::vector<Backend> make_table() {
  std::vector<Backend> table;
#if FLASHMOE_PYTHON_HAVE_ENGINE
  table.push_back({"cpu", "the fused in-process engine (fp64, fp32, bf16)", false, &run_engine});
#endif
  table.push_back({"reference", "naive fp64/fp32 implementation of SPEC (the oracle; slow)", true,
                   &run_reference});
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

std::string backend_names() {
  std::string names;
  for (const Backend& backend : backends())
    names += (names.empty() ? "" : ", ") + std::string(backend.name);
  return names;
}

const Backend& find_backend(std::string_view name) {
  for (const Backend& backend : backends())
    if (backend.name == name) return backend;
  throw ArgumentError("unknown backend '" + std::string(name) +
                      "' (available in this build: " + backend_names() + ")");
}

}  // namespace flashmoe::python
