// The per-process GEMM path decision (gemm_paths.hpp). bf16 runs natively only where oneDNN
// has bf16 instructions to run it on (AVX-512 BF16 or AMX): oneDNN 2.6 refuses a bf16 matmul on
// AVX2, and on plain AVX-512 it emulates bf16 at well under its fp32 rate (measured on an AMD
// EPYC capped at avx512_core: 38 GFLOP/s for bf16 against 100–111 for fp32, one thread, a
// 256×1024×1024 tile). Everywhere else bf16 tiles are widened to fp32, which is exact, and run
// through the fp32 kernel with the same fp32 accumulation.
#include "platform/cpu/gemm_paths.hpp"

#include <cstdlib>
#include <fstream>
#include <mutex>

#include "dnnl.hpp"
#include "flashmoe/error.hpp"
#include "platform/cpu/onednn_shared.hpp"

namespace flashmoe::cpu {
namespace {

std::string isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic:
      return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    case dnnl::cpu_isa::all:
      break;
  }
  return "isa#" + std::to_string(static_cast<int>(isa));
}

bool has_bf16_instructions(dnnl::cpu_isa isa) {
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

std::string read_cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (!line.starts_with("model name")) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const std::size_t start = line.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? std::string("unknown CPU") : line.substr(start);
  }
  return "unknown CPU";
}

std::string read_isa_cap() {
  // oneDNN reads ONEDNN_MAX_CPU_ISA first and DNNL_MAX_CPU_ISA when that is unset.
  for (const char* variable : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"})
    if (const char* value = std::getenv(variable); value != nullptr && *value != '\0')
      return std::string(variable) + "=" + value;
  return "";
}

// oneDNN's implementation name for a 64×64×64 matmul of `type` operands with B an nn.Linear
// weight and an f32 result, or "" when oneDNN has none.
std::string probe_kernel(dnnl::memory::data_type type) {
  using dnnl::memory;
  constexpr memory::dim n = 64;
  const std::lock_guard lock(detail::onednn_creation_mutex());
  try {
    const memory::desc a({n, n}, type, memory::dims{n, 1});
    const memory::desc b({n, n}, type, memory::dims{1, n});
    const memory::desc c({n, n}, memory::data_type::f32, memory::dims{n, 1});
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c),
                                          detail::onednn_cpu_engine());
    return pd.impl_info_str();
  } catch (const dnnl::error&) {
    return "";
  }
}

struct Paths {
  GemmPath f64, f32, bf16;
};

Paths decide_paths() {
  const CpuDescription& cpu = cpu_description();
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  const std::string isa_words =
      "ISA " + cpu.onednn_isa + (cpu.isa_cap.empty() ? "" : ", capped by " + cpu.isa_cap);
  Paths p;
  p.f64 = {ElementType::f64, GemmRoute::loop, "loop", "oneDNN has no fp64 matmul"};

  const std::string f32_kernel = probe_kernel(dnnl::memory::data_type::f32);
  FLASHMOE_CHECK(!f32_kernel.empty(), "gemm: oneDNN ", cpu.onednn_version,
                 " has no fp32 matmul on this CPU (", isa_words, ")");
  p.f32 = {ElementType::f32, GemmRoute::onednn, f32_kernel, isa_words};

  const std::string bf16_kernel =
      has_bf16_instructions(isa) ? probe_kernel(dnnl::memory::data_type::bf16) : "";
  if (!bf16_kernel.empty()) {
    p.bf16 = {ElementType::bf16, GemmRoute::onednn, bf16_kernel,
              "bf16 instructions in " + isa_words};
  } else {
    p.bf16 = {ElementType::bf16, GemmRoute::onednn_widened, f32_kernel,
              has_bf16_instructions(isa)
                  ? "oneDNN could not create a bf16 matmul (" + isa_words + ")"
                  : "no AVX-512 BF16 or AMX in " + isa_words};
  }
  return p;
}

const Paths& paths() {
  static const Paths decided = decide_paths();
  return decided;
}

}  // namespace

const CpuDescription& cpu_description() {
  static const CpuDescription description = [] {
    const dnnl_version_t* v = dnnl_version();
    CpuDescription d;
    d.model = read_cpu_model();
    d.onednn_version =
        std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
    d.onednn_isa = isa_name(dnnl::get_effective_cpu_isa());
    d.isa_cap = read_isa_cap();
    return d;
  }();
  return description;
}

const GemmPath& gemm_path(ElementType operands) {
  switch (operands) {
    case ElementType::f64:
      return paths().f64;
    case ElementType::f32:
      return paths().f32;
    case ElementType::bf16:
      return paths().bf16;
    default:
      FLASHMOE_FAIL("gemm: no GEMM path for operands of type ", to_string(operands),
                    " (allowed: f64, f32, bf16)");
  }
}

std::string_view to_string(GemmRoute route) {
  switch (route) {
    case GemmRoute::onednn:
      return "onednn";
    case GemmRoute::onednn_widened:
      return "onednn_widened";
    case GemmRoute::loop:
      return "loop";
  }
  return "unknown";
}

std::string_view route_words(GemmRoute route) {
  switch (route) {
    case GemmRoute::onednn:
      return "native";
    case GemmRoute::onednn_widened:
      return "widened to fp32";
    case GemmRoute::loop:
      return "plain loop";
  }
  return "unknown";
}

std::string describe(const CpuDescription& cpu) {
  return cpu.model + "; oneDNN " + cpu.onednn_version + ", ISA " + cpu.onednn_isa +
         (cpu.isa_cap.empty() ? "" : " (capped by " + cpu.isa_cap + ")");
}

std::string describe(const GemmPath& path) {
  const std::string name = path.operands == ElementType::f64   ? "fp64"
                           : path.operands == ElementType::f32 ? "fp32"
                                                               : "bf16";
  return name + " GEMM: " +
         std::string(route_words(path.route)) +
         (path.route == GemmRoute::loop ? "" : ", oneDNN " + path.kernel) + " (" + path.reason +
         ")";
}

}  // namespace flashmoe::cpu
