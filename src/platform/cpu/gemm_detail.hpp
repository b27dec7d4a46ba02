// Internal pieces of the CPU tile GEMM: gemm() validates its arguments once and then hands
// them to exactly one of these back ends.
#pragma once

#include "platform/cpu/gemm.hpp"
#include "platform/cpu/gemm_paths.hpp"

namespace flashmoe::cpu::detail {

// f32/bf16 operands through oneDNN matmul (fp32 accumulation), on the calling thread only;
// bf16 operands as `bf16_route` says (gemm() passes the process's gemm_path; the tests pass
// either route). Requires validated arguments with m, n, k > 0.
void gemm_onednn(const GemmArgs& args, GemmRoute bf16_route);

// f32/bf16 operands (bf16 widened) through OpenBLAS's single-threaded sgemm, fp32 accumulation,
// on the calling thread; throws when OpenBLAS cannot be loaded. Same requirements as above.
void gemm_openblas(const GemmArgs& args);

// A plain loop: f64 operands (fp64 accumulation), and the k = 0 case of every type (an
// epilogue-only call, which oneDNN would treat as "nothing to write"). Accumulates in fp64
// for f64 operands and in fp32 otherwise, over k in ascending order.
void gemm_loop(const GemmArgs& args);

}  // namespace flashmoe::cpu::detail
