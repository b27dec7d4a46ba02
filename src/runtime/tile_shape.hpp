// Fixed tile sizes of the engine's tasks. They never depend on the number of workers: every
// GEMM call covers the same rows and columns whoever runs it, which is what makes results
// bitwise identical for any worker count (SPEC §5).
#pragma once

#include <cstdint>

namespace flashmoe::runtime {

struct TileShape {
  // Defaults measured on the 2-core CPU (H = P = 1024, E = 16, k = 2, 2 ranks × 2048 tokens,
  // layer built once, best of 4 passes; docs/benchmarks.md): expert tiles of 256 rows × 1024
  // columns ran forward 47 ms / backward 144 ms in bf16 against 50 / 147 ms for 128 × 128 and
  // 49 / 151 ms for 256 × 512; fp32 84 / 216 ms against 93 / 232 ms. Fewer, larger GEMM calls
  // amortise oneDNN's per-call cost and keep operands dense (a full-width z tile needs no
  // staging), while 256-row tiles still leave several tasks per expert for the workers.
  std::int64_t token_rows = 32;        // gate, dispatch and combine work on tiles of this many
  std::int64_t expert_rows = 256;      // packet rows per expert GEMM task
  std::int64_t ffn_columns = 1024;     // columns of P per GEMM1 / dh task, rows of dW1 per task
  std::int64_t hidden_columns = 1024;  // columns of H per GEMM2 / dx task
  // Output rows of dW1 / dW2 per weight-gradient task, apart from the forward's column widths:
  // with 1024-row tiles an expert of H = 1024 had one dW2 task, too few for many workers per
  // rank. Measured on 2 cores (bf16 fwd+bwd, defaults): 1024 → 153 ms, 512 → 150, 256 → 148,
  // 128 → 146 (single runs, ±2 %); 256 keeps GEMMs large while giving 4 tasks per 1024 rows.
  std::int64_t weight_rows = 256;

  bool operator==(const TileShape&) const = default;
};

}  // namespace flashmoe::runtime
