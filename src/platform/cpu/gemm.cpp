// gemm(): argument checks and dispatch. Every refusal names the offending argument, so a
// caller that builds GemmArgs wrongly learns which field to fix.
#include "platform/cpu/gemm.hpp"

#include "flashmoe/error.hpp"
#include "platform/cpu/gemm_detail.hpp"

namespace flashmoe::cpu {
namespace {

bool is_float_operand(ElementType t) {
  return t == ElementType::f64 || t == ElementType::f32 || t == ElementType::bf16;
}

void check_args(const GemmArgs& g) {
  FLASHMOE_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0, "gemm: m, n, k must be ≥ 0, got m = ", g.m,
                 ", n = ", g.n, ", k = ", g.k);
  FLASHMOE_CHECK(is_float_operand(g.a_type), "gemm: a_type = ", to_string(g.a_type),
                 " is not supported (allowed: f64, f32, bf16)");
  FLASHMOE_CHECK(g.b_type == g.a_type, "gemm: b_type = ", to_string(g.b_type),
                 " must equal a_type = ", to_string(g.a_type));
  FLASHMOE_CHECK(is_float_operand(g.c_type), "gemm: c_type = ", to_string(g.c_type),
                 " is not supported (allowed: f64, f32, bf16)");
  FLASHMOE_CHECK(g.c_type != ElementType::f64 || g.a_type == ElementType::f64,
                 "gemm: c_type = f64 requires f64 operands, got a_type = ", to_string(g.a_type));
  FLASHMOE_CHECK(!g.activation || !is_gated(*g.activation),
                 "gemm: activation = ", g.activation ? to_string(*g.activation) : "",
                 " is gated; gemm applies plain ",
                 "activations only (compose the gate product outside)");

  const std::int64_t a_cols = g.trans_a ? g.m : g.k;  // stored row length of A
  const std::int64_t b_cols = g.trans_b ? g.k : g.n;
  FLASHMOE_CHECK(g.lda >= a_cols && g.lda >= 1, "gemm: lda = ", g.lda, " must be ≥ ", a_cols,
                 " (A stored as [", g.trans_a ? g.k : g.m, ", ", a_cols, "]) and ≥ 1");
  FLASHMOE_CHECK(g.ldb >= b_cols && g.ldb >= 1, "gemm: ldb = ", g.ldb, " must be ≥ ", b_cols,
                 " (B stored as [", g.trans_b ? g.n : g.k, ", ", b_cols, "]) and ≥ 1");
  FLASHMOE_CHECK(g.ldc >= g.n && g.ldc >= 1, "gemm: ldc = ", g.ldc, " must be ≥ n = ", g.n,
                 " and ≥ 1");

  const bool has_output = g.m > 0 && g.n > 0;
  FLASHMOE_CHECK(!has_output || g.c != nullptr, "gemm: c is null for a ", g.m, "×", g.n, " result");
  FLASHMOE_CHECK(!has_output || g.k == 0 || g.a != nullptr, "gemm: a is null with m = ", g.m,
                 ", k = ", g.k);
  FLASHMOE_CHECK(!has_output || g.k == 0 || g.b != nullptr, "gemm: b is null with k = ", g.k,
                 ", n = ", g.n);
}

}  // namespace

void gemm_on(GemmRoute route, const GemmArgs& args) {
  check_args(args);
  if (args.m == 0 || args.n == 0) return;
  if (args.a_type == ElementType::f64 || args.k == 0) {
    detail::gemm_loop(args);
    return;
  }
  switch (route) {
    case GemmRoute::onednn:
    case GemmRoute::onednn_widened:
      detail::gemm_onednn(args, route);
      return;
    case GemmRoute::openblas:
    case GemmRoute::openblas_widened:
      detail::gemm_openblas(args);
      return;
    case GemmRoute::loop:
      break;
  }
  FLASHMOE_FAIL("gemm: route ", to_string(route), " cannot run ", to_string(args.a_type),
                " operands");
}

void gemm(const GemmArgs& args) {
  const bool float_operands = args.a_type == ElementType::f32 || args.a_type == ElementType::bf16;
  gemm_on(float_operands
              ? gemm_path(args.a_type, gemm_layout(args.trans_a, args.trans_b)).route
              : GemmRoute::loop,
          args);
}

}  // namespace flashmoe::cpu
