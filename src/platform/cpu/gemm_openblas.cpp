// f32/bf16 GEMM through OpenBLAS's single-threaded cblas_sgemm (openblas.hpp), for CPUs where the
// path table (gemm_paths.cpp) prefers it. OpenBLAS takes every operand layout and leading
// dimension as stored — it packs both operands itself — so only three things are staged here:
// bf16 operands widened to fp32 (exact), and an fp32 tile for a bf16 destination or for an
// activation (which cpu::activate applies from a separate source). The epilogue follows
// GemmArgs' order: the product (+ C when accumulating), + bias, then the activation.
// Determinism: with one thread, the kernel and its k-order depend only on the shape and on the
// core type OpenBLAS chose for this CPU, which is fixed for the process.
#include <climits>
#include <cstdint>
#include <string>

#include "flashmoe/error.hpp"
#include "platform/cpu/gemm_detail.hpp"
#include "platform/cpu/gemm_staging.hpp"
#include "platform/cpu/openblas.hpp"

namespace flashmoe::cpu::detail {
namespace {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

struct Staging {
  AlignedBuffer a, b, c;
};

Staging& staging() {
  thread_local Staging buffers;
  return buffers;
}

int as_int(std::int64_t value, const char* name) {
  FLASHMOE_CHECK(value <= INT_MAX, "gemm: ", name, " = ", value,
                 " exceeds OpenBLAS's 32-bit dimensions");
  return static_cast<int>(value);
}

void add_bias(float* c, std::int64_t ldc, std::int64_t m, std::int64_t n, const float* bias) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] += bias[j];
}

}  // namespace

void gemm_openblas(const GemmArgs& g) {
  std::string why_not;
  const OpenBlas* blas = openblas(&why_not);
  FLASHMOE_CHECK(blas != nullptr, "gemm: ", why_not);
  Staging& stage = staging();

  const float* a = static_cast<const float*>(g.a);
  const float* b = static_cast<const float*>(g.b);
  std::int64_t lda = g.lda, ldb = g.ldb;
  if (g.a_type == ElementType::bf16) {
    const std::int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
    const std::int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
    a = widened_copy(stage.a, g.a, a_rows, a_cols, g.lda);
    b = widened_copy(stage.b, g.b, b_rows, b_cols, g.ldb);
    lda = a_cols;
    ldb = b_cols;
  }

  // The product lands in C itself when C is f32 and no activation follows; otherwise in an
  // f32 tile holding C (widened) when accumulating.
  const bool direct = g.c_type == ElementType::f32 && !g.activation;
  float* product = direct ? static_cast<float*>(g.c)
                          : static_cast<float*>(stage.c.get(
                                static_cast<std::size_t>(g.m * g.n) * sizeof(float)));
  const std::int64_t ldp = direct ? g.ldc : g.n;
  if (!direct && g.accumulate) {
    if (g.c_type == ElementType::bf16) {
      widen_rows(product, ldp, g.c, g.ldc, g.m, g.n);
    } else {
      copy_rows(product, ldp, g.c, g.ldc, g.m, g.n, sizeof(float));
    }
  }

  blas->sgemm(kRowMajor, g.trans_a ? kTrans : kNoTrans, g.trans_b ? kTrans : kNoTrans,
              as_int(g.m, "m"), as_int(g.n, "n"), as_int(g.k, "k"), 1.0f, a, as_int(lda, "lda"),
              b, as_int(ldb, "ldb"), g.accumulate ? 1.0f : 0.0f, product, as_int(ldp, "ldc"));
  if (g.bias != nullptr) add_bias(product, ldp, g.m, g.n, static_cast<const float*>(g.bias));
  if (direct) return;

  if (g.activation) {
    activate(*g.activation, g.m, g.n, product, ldp, g.c, g.c_type, g.ldc);
  } else {
    round_rows(g.c, g.ldc, product, ldp, g.m, g.n);  // f32 without activation was direct
  }
}

}  // namespace flashmoe::cpu::detail
