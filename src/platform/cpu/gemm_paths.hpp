// Which library and kernel this process's tile GEMM (gemm.hpp) uses for each operand type and
// operand layout, decided ONCE per process from what oneDNN reports and whether OpenBLAS is
// present (never from a timing, which could differ between two processes of one job), and the
// facts about the CPU that a benchmark number must carry. Every thread of the process, hence every worker and every in-process rank, takes the
// same path, so results stay bitwise deterministic across runs, worker counts and ranks on one
// machine; two machines whose paths differ (say, native bf16 on one and widened on the other)
// may differ in the last bits, within SPEC §4's tolerances.
#pragma once

#include <optional>
#include <string>

#include "flashmoe/types.hpp"

namespace flashmoe::cpu {

enum class GemmRoute {
  onednn,            // oneDNN matmul on the operands as stored
  onednn_widened,    // bf16 operands widened to fp32 (exact) and oneDNN's fp32 matmul; fp32
                     // accumulation either way
  openblas,          // OpenBLAS's single-threaded sgemm (openblas.hpp) on fp32 operands
  openblas_widened,  // bf16 operands widened to fp32 and OpenBLAS's sgemm
  loop,              // the plain loop (fp64 operands)
};

// How A and B are stored: the first letter for A, the second for B; N as op() uses it, T
// transposed (GemmArgs' trans_a / trans_b). The engine's forward is NT (x·Wᵀ), the backward's
// dh and dx are NN (dy·W2, dz·W1) and its weight gradients TN (dyᵀ·h, dzᵀ·x).
enum class GemmLayout { nn, nt, tn, tt };
inline constexpr GemmLayout kGemmLayouts[] = {GemmLayout::nn, GemmLayout::nt, GemmLayout::tn,
                                              GemmLayout::tt};
constexpr GemmLayout gemm_layout(bool trans_a, bool trans_b) {
  return trans_a ? (trans_b ? GemmLayout::tt : GemmLayout::tn)
                 : (trans_b ? GemmLayout::nt : GemmLayout::nn);
}
// The inverse: GemmArgs' trans_a / trans_b of a layout.
constexpr bool transposes_a(GemmLayout layout) {
  return layout == GemmLayout::tn || layout == GemmLayout::tt;
}
constexpr bool transposes_b(GemmLayout layout) {
  return layout == GemmLayout::nt || layout == GemmLayout::tt;
}

// The libraries the table may choose; the benchmark measures each one's ceiling.
enum class GemmLibrary { onednn, openblas, loop };

struct GemmPath {
  ElementType operands = ElementType::f32;
  GemmLayout layout = GemmLayout::nt;
  GemmRoute route = GemmRoute::onednn;
  // The kernel, in the library's words: oneDNN's implementation name for a 64×64×64 tile of
  // this layout (e.g. "brg:avx512_core_amx"; other shapes may get other oneDNN kernels),
  // OpenBLAS's core name (e.g. "Haswell"), or "loop".
  std::string kernel;
  std::string reason;  // why this route, in words
};

struct CpuDescription {
  std::string model;           // "model name" of /proc/cpuinfo ("unknown CPU" without one)
  std::string onednn_version;  // e.g. "2.6.3"
  std::string onednn_isa;      // the ISA oneDNN uses, in its own spelling, e.g. "avx2"
  std::string isa_cap;         // "ONEDNN_MAX_CPU_ISA=AVX2" when the environment caps it, else ""
};

// All are computed on first use (thread-safe) and fixed for the life of the process.
// FLASHMOE_CPU_GEMM=onednn or =openblas forces one library for f32 and bf16 (to compare them on
// one machine; a library that cannot run is an error naming why); unset or "auto" lets the
// table choose (gemm_paths.cpp says how).
const CpuDescription& cpu_description();
// f64, f32 or bf16; throws for others.
const GemmPath& gemm_path(ElementType operands, GemmLayout layout);
// The NT path: the forward's layout, the one a one-line summary names.
const GemmPath& gemm_path(ElementType operands);
// The path that `library` would take for these operands and layout on this CPU (the
// benchmark's per-library ceiling), or nullopt with *why_not set when it cannot run them.
std::optional<GemmPath> path_on(GemmLibrary library, ElementType operands,
                                GemmLayout layout = GemmLayout::nt,
                                std::string* why_not = nullptr);
GemmLibrary library_of(GemmRoute route);

// One line each for people: "AMD EPYC 9B14; oneDNN 2.6.3, ISA avx2 (capped by ...)" and
// "bf16 GEMM: widened to fp32, OpenBLAS Haswell (...)": describe(ElementType) names every
// layout's path, in one clause when they agree.
std::string describe(const CpuDescription& cpu);
std::string describe(const GemmPath& path);
std::string describe(ElementType operands);
std::string_view to_string(GemmRoute route);    // "onednn", "onednn_widened", "openblas", ...
std::string_view route_words(GemmRoute route);  // "native", "widened to fp32", "plain loop"
std::string_view to_string(GemmLayout layout);  // "NN", "NT", "TN", "TT"
std::string_view to_string(GemmLibrary library);  // "oneDNN", "OpenBLAS", "loop"
// "oneDNN brg:avx512_core", "OpenBLAS Haswell", "loop".
std::string library_and_kernel(const GemmPath& path);

}  // namespace flashmoe::cpu
