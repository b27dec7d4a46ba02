// The per-process GEMM path decision (gemm_paths.hpp). bf16 runs natively only where oneDNN
// has bf16 instructions to run it on (AVX-512 BF16 or AMX): oneDNN 2.6 refuses a bf16 matmul on
// AVX2, and on plain AVX-512 it emulates bf16 at well under its fp32 rate (measured on an AMD
// EPYC capped at avx512_core: 38 GFLOP/s for bf16 against 100–111 for fp32, one thread, a
// 256×1024×1024 tile). Everywhere else bf16 tiles are widened to fp32, which is exact, and run
// through the fp32 kernel with the same fp32 accumulation.
#include "platform/cpu/gemm_paths.hpp"

#include <array>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <string_view>

#include "dnnl.hpp"
#include "flashmoe/error.hpp"
#include "platform/cpu/onednn_shared.hpp"
#include "platform/cpu/openblas.hpp"

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

bool has_brgemm(dnnl::cpu_isa isa) {
  return isa == dnnl::cpu_isa::avx512_core || isa == dnnl::cpu_isa::avx512_core_vnni ||
         isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

// oneDNN's implementation name for a 64×64×64 matmul of `type` operands stored as `layout`
// says, with an f32 result, or "" when oneDNN has none.
std::string probe_kernel(dnnl::memory::data_type type, GemmLayout layout) {
  using dnnl::memory;
  constexpr memory::dim n = 64;
  const bool trans_a = transposes_a(layout), trans_b = transposes_b(layout);
  const std::lock_guard lock(detail::onednn_creation_mutex());
  try {
    const memory::desc a({n, n}, type, trans_a ? memory::dims{1, n} : memory::dims{n, 1});
    const memory::desc b({n, n}, type, trans_b ? memory::dims{1, n} : memory::dims{n, 1});
    const memory::desc c({n, n}, memory::data_type::f32, memory::dims{n, 1});
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c),
                                          detail::onednn_cpu_engine());
    return pd.impl_info_str();
  } catch (const dnnl::error&) {
    return "";
  }
}

std::string isa_words() {
  const CpuDescription& cpu = cpu_description();
  return "ISA " + cpu.onednn_isa + (cpu.isa_cap.empty() ? "" : ", capped by " + cpu.isa_cap);
}

// FLASHMOE_CPU_GEMM: nullopt for the table's choice.
std::optional<GemmLibrary> forced_library() {
  const char* value = std::getenv("FLASHMOE_CPU_GEMM");
  if (value == nullptr || *value == '\0' || std::string_view(value) == "auto") return std::nullopt;
  if (std::string_view(value) == "onednn") return GemmLibrary::onednn;
  if (std::string_view(value) == "openblas") return GemmLibrary::openblas;
  FLASHMOE_FAIL("FLASHMOE_CPU_GEMM = \"", value, "\" is not one of auto, onednn, openblas");
}

struct Paths {
  // [operand type: f64, f32, bf16][layout: kGemmLayouts order]
  std::array<std::array<GemmPath, 4>, 3> by_type;
};

std::size_t type_index(ElementType operands) {
  switch (operands) {
    case ElementType::f64:
      return 0;
    case ElementType::f32:
      return 1;
    case ElementType::bf16:
      return 2;
    default:
      FLASHMOE_FAIL("gemm: no GEMM path for operands of type ", to_string(operands),
                    " (allowed: f64, f32, bf16)");
  }
}

// The oneDNN path of one (type, layout): bf16 natively only where oneDNN has bf16 instructions.
GemmPath onednn_path(ElementType operands, GemmLayout layout, const std::string& why) {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  const std::string f32_kernel = probe_kernel(dnnl::memory::data_type::f32, layout);
  FLASHMOE_CHECK(!f32_kernel.empty(), "gemm: oneDNN ", cpu_description().onednn_version,
                 " has no fp32 matmul of layout ", to_string(layout), " on this CPU (",
                 isa_words(), ")");
  if (operands == ElementType::f32) return {operands, layout, GemmRoute::onednn, f32_kernel, why};
  const std::string bf16_kernel =
      has_bf16_instructions(isa) ? probe_kernel(dnnl::memory::data_type::bf16, layout) : "";
  if (!bf16_kernel.empty())
    return {operands, layout, GemmRoute::onednn, bf16_kernel, "bf16 instructions; " + why};
  return {operands, layout, GemmRoute::onednn_widened, f32_kernel,
          has_bf16_instructions(isa) ? "oneDNN could not create a bf16 matmul (" + why + ")"
                                     : "no AVX-512 BF16 or AMX in " + why};
}

GemmPath openblas_path(ElementType operands, GemmLayout layout, const std::string& why) {
  return {operands, layout,
          operands == ElementType::f32 ? GemmRoute::openblas : GemmRoute::openblas_widened,
          openblas()->corename, why};
}

// The table. With oneDNN's brgemm kernels (any AVX-512 ISA) oneDNN takes every layout: on an
// AMD EPYC (Zen 4), one thread, 256×1024×1024 tiles, it ran NT/NN/TN at 103/96/94 GFLOP/s
// against OpenBLAS's 83/87/88. Below AVX-512 oneDNN 2.6 has only its gemm:jit kernels, which
// run the backward's layouts at a third of OpenBLAS's rate (same CPU capped at AVX2: NN 33 and
// TN 34 against 85 and 95; on an AVX2-only EPYC NT 73, NN 34, TN 40 against 92, 92, 88), so
// OpenBLAS takes every layout there. fp64 always runs the plain loop.
Paths decide_paths() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  const std::optional<GemmLibrary> forced = forced_library();
  // OpenBLAS is loaded only where the table may take it: loading starts its (idle) thread pool,
  // which a process on oneDNN's brgemm kernels has no use for.
  const bool may_use_openblas =
      forced ? *forced == GemmLibrary::openblas : !has_brgemm(isa);
  std::string no_openblas;
  const bool have_openblas = may_use_openblas && openblas(&no_openblas) != nullptr;
  FLASHMOE_CHECK(forced != GemmLibrary::openblas || have_openblas,
                 "FLASHMOE_CPU_GEMM = openblas, but ", no_openblas);

  std::string why;
  bool use_openblas = false;
  if (forced) {
    use_openblas = *forced == GemmLibrary::openblas;
    why = "FLASHMOE_CPU_GEMM=" + std::string(use_openblas ? "openblas" : "onednn") + "; " +
          isa_words();
  } else if (has_brgemm(isa)) {
    why = "oneDNN's brgemm kernels in " + isa_words();
  } else if (have_openblas) {
    use_openblas = true;
    why = "oneDNN has only gemm:jit in " + isa_words();
  } else {
    why = isa_words() + "; " + no_openblas;
  }

  Paths p;
  for (std::size_t l = 0; l < 4; ++l) {
    const GemmLayout layout = kGemmLayouts[l];
    p.by_type[0][l] = {ElementType::f64, layout, GemmRoute::loop, "loop",
                       "oneDNN has no fp64 matmul"};
    for (const ElementType operands : {ElementType::f32, ElementType::bf16})
      p.by_type[type_index(operands)][l] = use_openblas ? openblas_path(operands, layout, why)
                                                        : onednn_path(operands, layout, why);
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

const GemmPath& gemm_path(ElementType operands, GemmLayout layout) {
  const std::size_t t = type_index(operands);
  return paths().by_type[t][static_cast<std::size_t>(layout)];
}

const GemmPath& gemm_path(ElementType operands) { return gemm_path(operands, GemmLayout::nt); }

std::optional<GemmPath> path_on(GemmLibrary library, ElementType operands, GemmLayout layout,
                                std::string* why_not) {
  type_index(operands);  // refuses other types
  const bool f64 = operands == ElementType::f64;
  if (f64 != (library == GemmLibrary::loop)) {
    if (why_not != nullptr)
      *why_not = f64 ? "only the plain loop runs fp64" : "the plain loop runs fp64 only";
    return std::nullopt;
  }
  if (f64) return gemm_path(operands, layout);
  if (library == GemmLibrary::openblas) {
    if (openblas(why_not) == nullptr) return std::nullopt;
    return openblas_path(operands, layout, "asked for");
  }
  return onednn_path(operands, layout, isa_words());
}

GemmLibrary library_of(GemmRoute route) {
  switch (route) {
    case GemmRoute::onednn:
    case GemmRoute::onednn_widened:
      return GemmLibrary::onednn;
    case GemmRoute::openblas:
    case GemmRoute::openblas_widened:
      return GemmLibrary::openblas;
    case GemmRoute::loop:
      break;
  }
  return GemmLibrary::loop;
}

std::string_view to_string(GemmRoute route) {
  switch (route) {
    case GemmRoute::onednn:
      return "onednn";
    case GemmRoute::onednn_widened:
      return "onednn_widened";
    case GemmRoute::openblas:
      return "openblas";
    case GemmRoute::openblas_widened:
      return "openblas_widened";
    case GemmRoute::loop:
      return "loop";
  }
  return "unknown";
}

std::string_view route_words(GemmRoute route) {
  switch (route) {
    case GemmRoute::onednn:
    case GemmRoute::openblas:
      return "native";
    case GemmRoute::onednn_widened:
    case GemmRoute::openblas_widened:
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

std::string_view to_string(GemmLayout layout) {
  switch (layout) {
    case GemmLayout::nn:
      return "NN";
    case GemmLayout::nt:
      return "NT";
    case GemmLayout::tn:
      return "TN";
    case GemmLayout::tt:
      return "TT";
  }
  return "unknown";
}

std::string_view to_string(GemmLibrary library) {
  switch (library) {
    case GemmLibrary::onednn:
      return "oneDNN";
    case GemmLibrary::openblas:
      return "OpenBLAS";
    case GemmLibrary::loop:
      return "loop";
  }
  return "unknown";
}

std::string library_and_kernel(const GemmPath& path) {
  const GemmLibrary library = library_of(path.route);
  if (library == GemmLibrary::loop) return "loop";
  return std::string(to_string(library)) + " " + path.kernel;
}

namespace {

std::string type_name(ElementType operands) {
  return operands == ElementType::f64 ? "fp64" : operands == ElementType::f32 ? "fp32" : "bf16";
}

std::string route_clause(const GemmPath& path) {
  return std::string(route_words(path.route)) +
         (path.route == GemmRoute::loop ? "" : ", " + library_and_kernel(path));
}

}  // namespace

std::string describe(const GemmPath& path) {
  return type_name(path.operands) + " GEMM (" + std::string(to_string(path.layout)) +
         "): " + route_clause(path) + " (" + path.reason + ")";
}

std::string describe(ElementType operands) {
  const GemmPath& first = gemm_path(operands, kGemmLayouts[0]);
  bool uniform = true;
  for (const GemmLayout layout : kGemmLayouts)
    uniform = uniform && route_clause(gemm_path(operands, layout)) == route_clause(first);
  std::string text = type_name(operands) + " GEMM: ";
  if (uniform) {
    text += route_clause(first) + ", every layout";
  } else {
    for (const GemmLayout layout : kGemmLayouts) {
      if (layout != kGemmLayouts[0]) text += "; ";
      text += std::string(to_string(layout)) + " " + route_clause(gemm_path(operands, layout));
    }
  }
  return text + " (" + first.reason + ")";
}

}  // namespace flashmoe::cpu
