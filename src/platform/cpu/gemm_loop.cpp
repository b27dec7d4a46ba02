// The loop GEMM: fp64 operands (gradient checks, never the hot path; oneDNN has no f64 matmul
// on the CPU) and epilogue-only calls with k = 0. Each C element is one running sum over k in
// ascending order, so results do not depend on blocking or threads.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "flashmoe/error.hpp"
#include "flashmoe/half.hpp"
#include "math/activation.hpp"
#include "platform/cpu/gemm_detail.hpp"

namespace flashmoe::cpu::detail {
namespace {

// Columns of C computed together. For each block, op(B)'s [k, block] panel is widened to Acc
// once and then reused by every row of A, so B is read contiguously whatever its layout.
constexpr std::int64_t kColumnBlock = 256;

template <typename TIn, typename Acc, typename TOut>
void loop_kernel(const GemmArgs& g) {
  const auto* a = static_cast<const TIn*>(g.a);
  const auto* b = static_cast<const TIn*>(g.b);
  auto* c = static_cast<TOut*>(g.c);
  const auto* bias = static_cast<const Acc*>(g.bias);
  // A(i, p) and B(p, j) in op() coordinates, whatever the storage order.
  const std::int64_t a_row = g.trans_a ? 1 : g.lda, a_col = g.trans_a ? g.lda : 1;
  const std::int64_t b_row = g.trans_b ? 1 : g.ldb, b_col = g.trans_b ? g.ldb : 1;
  const std::int64_t block = std::min(g.n, kColumnBlock);
  std::vector<Acc> panel(static_cast<std::size_t>(g.k * block));  // [k, width] of op(B)
  std::vector<Acc> acc(static_cast<std::size_t>(block));

  for (std::int64_t j0 = 0; j0 < g.n; j0 += kColumnBlock) {
    const std::int64_t width = std::min(kColumnBlock, g.n - j0);
    for (std::int64_t p = 0; p < g.k; ++p)
      for (std::int64_t j = 0; j < width; ++j)
        panel[static_cast<std::size_t>(p * width + j)] =
            static_cast<Acc>(to_float(b[p * b_row + (j0 + j) * b_col]));
    for (std::int64_t i = 0; i < g.m; ++i) {
      // acc[j] = Σ_p A(i, p)·B(p, j0 + j), p ascending.
      std::fill(acc.begin(), acc.end(), Acc(0));
      for (std::int64_t p = 0; p < g.k; ++p) {
        const Acc a_ip = static_cast<Acc>(to_float(a[i * a_row + p * a_col]));
        const Acc* b_p = &panel[static_cast<std::size_t>(p * width)];
        for (std::int64_t j = 0; j < width; ++j) acc[static_cast<std::size_t>(j)] += a_ip * b_p[j];
      }
      TOut* c_row = c + i * g.ldc + j0;
      for (std::int64_t j = 0; j < width; ++j) {
        // C = [C +] op(A)·op(B), then + bias, then act (GemmArgs' epilogue order).
        Acc v = acc[static_cast<std::size_t>(j)];
        if (g.accumulate) v = static_cast<Acc>(to_float(c_row[j])) + v;
        if (bias != nullptr) v += bias[j0 + j];
        if (g.activation) v = math::activate(*g.activation, v);
        c_row[j] = from_float<TOut>(v);
      }
    }
  }
}

template <typename TIn, typename Acc>
void dispatch_output(const GemmArgs& g) {
  switch (g.c_type) {
    case ElementType::f64:
      return loop_kernel<TIn, Acc, double>(g);
    case ElementType::f32:
      return loop_kernel<TIn, Acc, float>(g);
    case ElementType::bf16:
      return loop_kernel<TIn, Acc, bfloat16>(g);
    default:
      FLASHMOE_FAIL("gemm: c_type = ", to_string(g.c_type), " is not supported");
  }
}

}  // namespace

void gemm_loop(const GemmArgs& g) {
  switch (g.a_type) {
    case ElementType::f64:
      return dispatch_output<double, double>(g);
    case ElementType::f32:
      return dispatch_output<float, float>(g);
    case ElementType::bf16:
      return dispatch_output<bfloat16, float>(g);
    default:
      FLASHMOE_FAIL("gemm: a_type = ", to_string(g.a_type), " is not supported");
  }
}

}  // namespace flashmoe::cpu::detail
