// Which kernel this process's tile GEMM (gemm.hpp) uses for each operand type, decided ONCE per
// process from what oneDNN reports, and the facts about the CPU that a benchmark number must
// carry. Every thread of the process, hence every worker and every in-process rank, takes the
// same path, so results stay bitwise deterministic across runs, worker counts and ranks on one
// machine; two machines whose paths differ (say, native bf16 on one and widened on the other)
// may differ in the last bits, within SPEC §4's tolerances.
#pragma once

#include <string>

#include "flashmoe/types.hpp"

namespace flashmoe::cpu {

enum class GemmRoute {
  onednn,          // oneDNN matmul on the operands as stored
  onednn_widened,  // bf16 operands widened to fp32 (exact) and oneDNN's fp32 matmul; fp32
                   // accumulation either way
  loop,            // the plain loop (fp64 operands)
};

struct GemmPath {
  ElementType operands = ElementType::f32;
  GemmRoute route = GemmRoute::onednn;
  // oneDNN's implementation name for a representative tile (64×64×64, B as an nn.Linear
  // weight), e.g. "brg:avx512_core_amx"; "loop" for the plain loop. Other shapes may get other
  // oneDNN kernels.
  std::string kernel;
  std::string reason;  // why this route, in words
};

struct CpuDescription {
  std::string model;           // "model name" of /proc/cpuinfo ("unknown CPU" without one)
  std::string onednn_version;  // e.g. "2.6.3"
  std::string onednn_isa;      // the ISA oneDNN uses, in its own spelling, e.g. "avx2"
  std::string isa_cap;         // "ONEDNN_MAX_CPU_ISA=AVX2" when the environment caps it, else ""
};

// Both are computed on first use (thread-safe) and fixed for the life of the process.
const CpuDescription& cpu_description();
const GemmPath& gemm_path(ElementType operands);  // f64, f32 or bf16; throws for others

// One line each for people: "AMD EPYC 9B14; oneDNN 2.6.3, ISA avx2 (capped by ...)" and
// "bf16 GEMM: widened to fp32, oneDNN gemm:jit (no AVX-512 BF16 or AMX in ISA avx2)".
std::string describe(const CpuDescription& cpu);
std::string describe(const GemmPath& path);
std::string_view to_string(GemmRoute route);  // "onednn", "onednn_widened", "loop"
std::string_view route_words(GemmRoute route);  // "native", "widened to fp32", "plain loop"

}  // namespace flashmoe::cpu
