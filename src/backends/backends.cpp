#include "backends/backends.hpp"

#include "engine/engine.hpp"
#include "flashmoe/error.hpp"
#include "reference/reference.hpp"

#if FLASHMOE_HAVE_CUDA_ENGINE
#include "engine/cuda/cuda_layer.hpp"
#endif

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

// The fused engine on the GPU: every rank a partition of one GPU's blocks, one launch per pass.
// Without a usable GPU it says why (cuda::Layer checks the device first).
Results run_cuda_engine(const Problem& problem, const Options& options) {
#if FLASHMOE_HAVE_CUDA_ENGINE
  cuda::CudaOptions cuda_options;
  cuda_options.scheduling =
      options.dedicated_roles ? runtime::Scheduling::dedicated : runtime::Scheduling::shared;
  cuda_options.subscribers = options.subscribers;
  return cuda::run_on_gpu(problem, cuda_options);
#else
  (void)problem;
  (void)options;
  throw Error(
      "backend cuda: this build of flashmoe has no CUDA engine (it was configured without the "
      "CUDA toolkit or without the CUTLASS headers, which scripts/setup.sh installs where nvcc "
      "is)");
#endif
}

// Every configuration the validator accepts: fp64, fp32 (tf32 with allow_tf32), bf16, fp16.
bool cuda_engine_supports(const Config&) {
  return FLASHMOE_HAVE_CUDA_ENGINE;
}

std::string cuda_engine_unavailable() {
#if FLASHMOE_HAVE_CUDA_ENGINE
  return cuda::unavailable_reason();
#else
  return "this build of flashmoe has no CUDA engine (built without the CUDA toolkit or the "
         "CUTLASS headers)";
#endif
}

std::vector<Backend> make_table() {
  return {
      {"cpu",
       "the fused engine: one persistent tile-pipelined program per rank, ranks as threads "
       "(fp64, fp32, bf16)",
       true, true, &run_cpu_engine, &cpu_engine_supports},
      {"cuda",
       "the fused engine on one GPU: one persistent kernel per pass, ranks as partitions of the "
       "GPU (fp64, fp32, bf16, fp16; needs a GPU of compute capability 8.x or 9.0)",
       false, false, &run_cuda_engine, &cuda_engine_supports, &cuda_engine_unavailable},
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
