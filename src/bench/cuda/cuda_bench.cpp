// flashmoe_cuda_bench: the GPU engine (cuda::Layer) against, in the same run, the unfused
// cuBLAS pipeline (unfused_pipeline.hpp) and cuBLAS dense GEMM on the same FLOPs (the ceiling),
// on the seed system's grid: tokens × experts × dtypes, H = P = 2048, k = 2, forward and
// forward+backward. Every row also checks that the engine and the baseline agree (relative L2
// of out, and of dx, dW1 and dW2 after the backward), so a wrong kernel cannot produce a fast
// row. Writes <date>-<gpu>.md and .json into --out. docs/cuda.md, "Benchmark".
#include "bench/cuda/cuda_bench.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "bench/cuda/unfused_pipeline.hpp"
#include "bench/flop_count.hpp"
#include "engine/cuda/cuda_layer.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe::bench::cuda {
namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// ‖a − b‖₂ / ‖b‖₂ over two fp32 tensors of one shape.
double relative_l2(const HostTensor& a, const HostTensor& b) {
  FLASHMOE_CHECK(a.shape() == b.shape(), "cuda bench: comparing tensors of different shapes");
  const HostTensor fa = a.type() == ElementType::f32 ? HostTensor() : a.to(ElementType::f32);
  const HostTensor fb = b.type() == ElementType::f32 ? HostTensor() : b.to(ElementType::f32);
  const auto x = (fa.defined() ? fa : a).data<float>();
  const auto y = (fb.defined() ? fb : b).data<float>();
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
    diff += d * d;
    norm += static_cast<double>(y[i]) * static_cast<double>(y[i]);
  }
  return norm == 0.0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

// The first `tokens` rows of a [S, H] tensor.
HostTensor leading_rows(const HostTensor& full, std::int64_t tokens) {
  HostTensor rows(full.type(), {tokens, full.dim(1)});
  std::memcpy(rows.raw(), full.raw(), rows.nbytes());
  return rows;
}

// The problem restricted to its first `tokens` tokens, sharing nothing with `full` but copies
// of x and dout: the weights are moved in and must be moved back (restore_weights).
Problem take_tokens(Problem& full, std::int64_t tokens) {
  Problem part;
  part.config = full.config;
  part.world_size = 1;
  part.backward = full.backward;
  part.wg = std::move(full.wg);
  part.ranks.resize(1);
  RankInputs& from = full.ranks[0];
  RankInputs& to = part.ranks[0];
  to.x = leading_rows(from.x, tokens);
  if (from.dout.defined()) to.dout = leading_rows(from.dout, tokens);
  to.w1 = std::move(from.w1);
  to.w2 = std::move(from.w2);
  return part;
}

void restore_weights(Problem& full, Problem& part) {
  full.wg = std::move(part.wg);
  full.ranks[0].w1 = std::move(part.ranks[0].w1);
  full.ranks[0].w2 = std::move(part.ranks[0].w2);
}

std::string gpu_slug(const std::string& name) {
  std::string slug;
  for (char ch : name) {
    if (std::isalnum(static_cast<unsigned char>(ch)))
      slug += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    else if (!slug.empty() && slug.back() != '-')
      slug += '-';
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return slug.empty() ? "gpu" : slug;
}

std::string utc_now(const char* format) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[64];
  std::strftime(text, sizeof text, format, &tm);
  return text;
}

struct Row {
  std::string dtype;  // "bf16", "fp16" or "tf32"
  std::int64_t tokens = 0, experts = 0;
  std::int64_t kept_engine = 0, kept_baseline = 0;
  std::string baseline_expert_gemms;  // UnfusedPipeline::expert_gemms() after the row's passes
  double flops_forward = 0.0, flops_forward_backward = 0.0;
  double engine_forward_s = 0.0, engine_forward_backward_s = 0.0;
  double baseline_forward_s = 0.0, baseline_forward_backward_s = 0.0;
  double ceiling_rate = 0.0;  // FLOP/s of the dense GEMM
  double error_out = 0.0, error_dx = 0.0, error_dw1 = 0.0, error_dw2 = 0.0;
  double tolerance = 0.0;
  bool agrees() const {
    return error_out <= tolerance && error_dx <= tolerance && error_dw1 <= tolerance &&
           error_dw2 <= tolerance;
  }
};

Config grid_config(const CudaBenchOptions& o, const std::string& dtype, std::int64_t experts,
                   std::int64_t max_tokens) {
  Config c;
  c.hidden = o.hidden;
  c.ffn = o.ffn;
  c.experts = experts;
  c.top_k = o.top_k;
  c.activation = o.activation;
  c.capacity_factor = o.capacity_factor;
  c.dtype = dtype == "bf16" ? DType::bf16 : dtype == "fp16" ? DType::fp16 : DType::fp32;
  c.allow_tf32 = dtype == "tf32";
  c.max_tokens = max_tokens;
  validate(c, 1);
  return c;
}

// Engine and baseline on one (dtype, experts) problem, every token count of the grid.
void measure(const CudaBenchOptions& o, const std::string& dtype, std::int64_t experts,
             std::vector<Row>& rows, std::string& engine_launch) {
  const std::int64_t max_tokens = *std::max_element(o.tokens.begin(), o.tokens.end());
  const Config config = grid_config(o, dtype, experts, max_tokens);
  std::cout << "  " << dtype << ", " << experts << " experts: drawing inputs for " << max_tokens
            << " tokens ..." << std::endl;
  Problem full = make_random_problem(config, 1, {max_tokens}, o.seed, /*backward=*/true);
  UnfusedPipeline baseline(full, o.device);
  flashmoe::cuda::CudaOptions engine_options;
  engine_options.device = o.device;
  flashmoe::cuda::Layer engine(full, engine_options);
  engine_launch = engine.describe();
  for (const std::int64_t tokens : o.tokens) {
    Row row;
    row.dtype = dtype;
    row.tokens = tokens;
    row.experts = experts;
    // bf16 keeps 8 bits of mantissa, fp16 11 and tf32 10: h and the outputs are rounded at
    // different points in engine and baseline (SPEC §4 allows either), so the gap is bf16's.
    row.tolerance = dtype == "bf16" ? 2e-2 : 1e-2;
    Problem part = take_tokens(full, tokens);
    std::vector<double> engine_forward, engine_both, baseline_forward, baseline_both;
    for (int i = -1; i < o.repeats; ++i) {  // i = -1: warm-up, not timed
      engine.forward(part);
      const double forward = engine.results().seconds.at("forward");
      engine.backward(part);
      const double backward = engine.results().seconds.at("backward");
      const double b_forward = baseline.forward(tokens);
      const double b_backward = baseline.backward();
      if (i < 0) continue;
      engine_forward.push_back(forward);
      engine_both.push_back(forward + backward);
      baseline_forward.push_back(b_forward);
      baseline_both.push_back(b_forward + b_backward);
    }
    row.engine_forward_s = median(engine_forward);
    row.engine_forward_backward_s = median(engine_both);
    row.baseline_forward_s = median(baseline_forward);
    row.baseline_forward_backward_s = median(baseline_both);
    // The latest pass of each: the engine's results hold its backward and its forward's out.
    const RankOutputs& mine = engine.results().ranks.at(0);
    row.kept_engine = kept_slots(engine.results());
    row.kept_baseline = baseline.kept_slots();
    row.baseline_expert_gemms = baseline.expert_gemms();
    row.error_out = relative_l2(mine.out, baseline.out());
    row.error_dx = relative_l2(mine.dx, baseline.dx());
    row.error_dw1 = relative_l2(mine.dw1, baseline.dw1());
    row.error_dw2 = relative_l2(mine.dw2, baseline.dw2());
    const FlopCount flops = count_flops(config, tokens, row.kept_engine);
    row.flops_forward = flops.forward();
    row.flops_forward_backward = flops.forward_backward();
    row.ceiling_rate =
        dense_gemm_rate(config, tokens * o.top_k, o.ffn, o.hidden, o.repeats, o.device);
    restore_weights(full, part);
    std::printf("  %s E=%lld S=%lld: engine %.3f / %.3f ms, unfused %.3f / %.3f ms (fwd / "
                "fwd+bwd), rel. L2 out %.1e dx %.1e%s\n",
                dtype.c_str(), static_cast<long long>(experts), static_cast<long long>(tokens),
                row.engine_forward_s * 1e3, row.engine_forward_backward_s * 1e3,
                row.baseline_forward_s * 1e3, row.baseline_forward_backward_s * 1e3,
                row.error_out, row.error_dx, row.agrees() ? "" : "  MISMATCH");
    std::fflush(stdout);
    rows.push_back(row);
  }
}

std::string markdown(const CudaBenchOptions& o, const std::string& gpu, const std::string& when,
                     const std::string& command, const std::string& launch,
                     const std::vector<Row>& rows) {
  std::ostringstream md;
  md << "# flashmoe_cuda_bench, " << gpu << ", " << when << "\n\n"
     << "Command: `" << command << "`\n\n"
     << "H = " << o.hidden << ", P = " << o.ffn << ", k = " << o.top_k << ", "
     << to_string(o.activation) << ", capacity factor " << o.capacity_factor
     << ", one rank; median of " << o.repeats
     << " passes after one warm-up. Engine launch: " << launch << ".\n\n"
     << "Times in ms (GPU events). *unfused*: per-step kernels and grouped cuBLAS GEMMs for "
        "the experts (src/bench/cuda/unfused_pipeline.cu; how each row ran them is below the "
        "table); *ceiling*: the same FLOPs at the rate of one "
        "dense cuBLAS GEMM [S·k, H]·[H, P]. tf32 rows: fp32 layers with allow_tf32; the expert "
        "GEMMs of all three, forward and backward, use tf32 tensor cores; the engine's gate "
        "GEMMs stay fp32 (docs/cuda.md).\n\n"
     << "| dtype | E | tokens | engine fwd | unfused fwd | ceiling fwd | engine fwd+bwd | "
        "unfused fwd+bwd | ceiling fwd+bwd | unfused/engine fwd | unfused/engine fwd+bwd | "
        "engine % of ceiling fwd+bwd | rel. L2 out, dx, dW1, dW2 |\n"
     << "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  char line[512];
  for (const Row& r : rows) {
    std::snprintf(line, sizeof line,
                  "| %s | %lld | %lld | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f× | "
                  "%.2f× | %.0f %% | %.1e, %.1e, %.1e, %.1e%s |\n",
                  r.dtype.c_str(), static_cast<long long>(r.experts),
                  static_cast<long long>(r.tokens), r.engine_forward_s * 1e3,
                  r.baseline_forward_s * 1e3, r.flops_forward / r.ceiling_rate * 1e3,
                  r.engine_forward_backward_s * 1e3, r.baseline_forward_backward_s * 1e3,
                  r.flops_forward_backward / r.ceiling_rate * 1e3,
                  r.baseline_forward_s / r.engine_forward_s,
                  r.baseline_forward_backward_s / r.engine_forward_backward_s,
                  100.0 * r.flops_forward_backward / r.ceiling_rate / r.engine_forward_backward_s,
                  r.error_out, r.error_dx, r.error_dw1, r.error_dw2,
                  r.agrees() ? "" : " MISMATCH");
    md << line;
  }
  md << "\nThe unfused baseline's expert GEMMs:\n\n";
  for (const Row& r : rows)
    md << "- " << r.dtype << ", E = " << r.experts << ", " << r.tokens
       << " tokens: " << r.baseline_expert_gemms << "\n";
  return md.str();
}

nlohmann::json as_json(const CudaBenchOptions& o, const std::string& gpu, const std::string& when,
                       const std::string& command, const std::string& launch,
                       const std::vector<Row>& rows) {
  nlohmann::json j;
  j["gpu"] = gpu;
  j["date"] = when;
  j["command"] = command;
  j["engine_launch"] = launch;
  j["hidden"] = o.hidden;
  j["ffn"] = o.ffn;
  j["top_k"] = o.top_k;
  j["activation"] = std::string(to_string(o.activation));
  j["capacity_factor"] = o.capacity_factor;
  j["repeats"] = o.repeats;
  for (const Row& r : rows) {
    j["rows"].push_back(
        {{"dtype", r.dtype},
         {"experts", r.experts},
         {"tokens", r.tokens},
         {"kept_slots_engine", r.kept_engine},
         {"kept_slots_unfused", r.kept_baseline},
         {"unfused_expert_gemms", r.baseline_expert_gemms},
         {"flops_forward", r.flops_forward},
         {"flops_forward_backward", r.flops_forward_backward},
         {"engine_forward_s", r.engine_forward_s},
         {"engine_forward_backward_s", r.engine_forward_backward_s},
         {"unfused_forward_s", r.baseline_forward_s},
         {"unfused_forward_backward_s", r.baseline_forward_backward_s},
         {"ceiling_flops_per_s", r.ceiling_rate},
         {"relative_l2",
          {{"out", r.error_out}, {"dx", r.error_dx}, {"dw1", r.error_dw1}, {"dw2", r.error_dw2}}},
         {"tolerance", r.tolerance},
         {"agrees", r.agrees()}});
  }
  return j;
}

}  // namespace

int run_cuda_bench(const CudaBenchOptions& o, const std::string& command) {
  if (const std::string why = flashmoe::cuda::unavailable_reason(o.device); !why.empty()) {
    std::cerr << "flashmoe_cuda_bench: cannot run here: " << why << "\n";
    return 1;
  }
  std::filesystem::create_directories(o.out);  // before the work: an unwritable --out fails now
  cudaDeviceProp device{};
  if (cudaGetDeviceProperties(&device, o.device) != cudaSuccess)
    throw Error("flashmoe_cuda_bench: cannot query the CUDA device");
  const std::string gpu = device.name;
  const std::string when = utc_now("%Y-%m-%dT%H:%M:%SZ");
  const std::filesystem::path stem =
      std::filesystem::path(o.out) / (utc_now("%Y-%m-%d") + "-" + gpu_slug(gpu));
  std::cout << "flashmoe_cuda_bench on " << gpu << " (" << device.multiProcessorCount
            << " SMs): " << o.dtypes.size() * o.experts.size() * o.tokens.size() << " rows"
            << std::endl;
  std::vector<Row> rows;
  std::string launch;
  for (const std::string& dtype : o.dtypes)
    for (const std::int64_t experts : o.experts) measure(o, dtype, experts, rows, launch);

  const std::string md = markdown(o, gpu, when, command, launch, rows);
  std::ofstream(stem.string() + ".md") << md;
  std::ofstream(stem.string() + ".json") << as_json(o, gpu, when, command, launch, rows).dump(2)
                                         << "\n";
  std::cout << "\n" << md << "\nwritten: " << stem.string() << ".md, .json\n";
  const bool all_agree =
      std::all_of(rows.begin(), rows.end(), [](const Row& r) { return r.agrees(); });
  if (!all_agree)
    std::cerr << "flashmoe_cuda_bench: the engine and the unfused baseline disagree beyond the "
                 "tolerance in a row marked MISMATCH\n";
  return all_agree ? 0 : 3;
}

}  // namespace flashmoe::bench::cuda
