// Fixed tile sizes of the engine's tasks. They never depend on the number of workers: every
// GEMM call covers the same rows and columns whoever runs it, which is what makes results
// bitwise identical for any worker count (SPEC §5).
#pragma once

#include <cstdint>

namespace flashmoe::runtime {

struct TileShape {
  // Defaults measured on the 2-core CPU (H = P = 1024, E = 16, k = 2): 128-wide expert tiles
  // run ~12% faster than 32×64 ones through the per-call GEMM, and still leave many tasks.
  std::int64_t token_rows = 32;    // gate, dispatch and combine work on tiles of this many tokens
  std::int64_t expert_rows = 128;  // packet rows per expert GEMM task
  std::int64_t ffn_columns = 128;  // columns of P per GEMM1 / dh task, rows of dW1 per task
  std::int64_t hidden_columns = 128;  // columns of H per GEMM2 / dx task, rows of dW2 per task

  bool operator==(const TileShape&) const = default;
};

}  // namespace flashmoe::runtime
