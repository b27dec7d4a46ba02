// The baseline's expert FFN (SPEC §2.6) and its backward (§3), one block of an expert's rows
// per call, every product through the tile GEMM. The forward-only plain case fuses bias and
// activation into GEMM1's epilogue; when backward needs the pre-activation z, GEMM1 writes z
// and the activation is applied here with the engine's activation kernels
// (platform/cpu/tile_activation.hpp).
#include <algorithm>

#include "bench/baseline_state.hpp"
#include "bench/phase_blocks.hpp"
#include "platform/cpu/tile_activation.hpp"
#include "platform/cpu/tile_gemm.hpp"

namespace flashmoe::bench::detail {
namespace {

template <typename Acc>
const Acc* bias_or_null(const std::vector<Acc>& bias) {
  return bias.empty() ? nullptr : bias.data();
}

}  // namespace

template <typename T>
void expert_forward_block(BaselineState<T>& s, std::int64_t expert, std::int64_t first_row,
                          bool keep_for_backward) {
  using Acc = AccOf<T>;
  ExpertState<T>& ex = s.experts_state[static_cast<std::size_t>(expert)];
  const std::int64_t H = s.hidden, P = s.ffn, R = s.w1_rows;
  const std::int64_t rows = std::min(kRowBlock, ex.rows - first_row);
  const Activation act = s.problem->config.activation;
  const bool gated = is_gated(act);
  const T* x = ex.x.data() + first_row * H;  // [rows, H]
  T* h = ex.h.data() + first_row * P;        // [rows, P]

  if (!gated && !keep_for_backward) {
    // h = act(x·w1ᵀ + b1), fused.
    cpu::GemmArgs g1 = platform::gemm_args(rows, P, H, x, H, false, ex.w1, H, true, h, P);
    g1.bias = bias_or_null(ex.b1);
    g1.activation = act;
    cpu::gemm(g1);
  } else {
    // z = x·w1ᵀ + b1  [rows, R], then h = act(z) or act(g) ⊙ u.
    thread_local std::vector<Acc> scratch;
    Acc* z = keep_for_backward
                 ? ex.z.data() + first_row * R
                 : (scratch.resize(static_cast<std::size_t>(rows * R)), scratch.data());
    cpu::GemmArgs g1 = platform::gemm_args(rows, R, H, x, H, false, ex.w1, H, true, z, R);
    g1.bias = bias_or_null(ex.b1);
    cpu::gemm(g1);
    // The engine's activation kernels (vectorised for fp32 on the CPU), so that the benchmark
    // compares execution models, not activation implementations.
    cpu::activate_tile(portable::TileActivation<T, Acc>{act, gated, rows, P, z, R, P, h, P});
  }

  // y = h·w2ᵀ + b2  [rows, H], in Acc (it is combined across slots in Acc).
  cpu::GemmArgs g2 = platform::gemm_args(rows, H, P, static_cast<const T*>(h), P, false, ex.w2, P,
                                         true, ex.y.data() + first_row * H, H);
  g2.bias = bias_or_null(ex.b2);
  cpu::gemm(g2);
}

template <typename T>
void expert_backward_block(BaselineState<T>& s, std::int64_t expert, std::int64_t first_row) {
  using Acc = AccOf<T>;
  ExpertState<T>& ex = s.experts_state[static_cast<std::size_t>(expert)];
  const std::int64_t H = s.hidden, P = s.ffn, R = s.w1_rows;
  const std::int64_t rows = std::min(kRowBlock, ex.rows - first_row);
  const Activation act = s.problem->config.activation;
  const bool gated = is_gated(act);

  // dh = dy·w2  [rows, P].
  thread_local std::vector<Acc> dh;
  dh.resize(static_cast<std::size_t>(rows * P));
  cpu::gemm(platform::gemm_args(rows, P, H, static_cast<const T*>(ex.dy.data() + first_row * H), H,
                                false, ex.w2, P, false, dh.data(), P));

  // dz = dh ⊙ act′(z); gated: dg = dh ⊙ u ⊙ act′(g), du = dh ⊙ act(g).
  const Acc* z = ex.z.data() + first_row * R;  // [rows, R]
  T* dz = ex.dz.data() + first_row * R;        // [rows, R]
  cpu::activate_tile_backward(
      portable::TileActivationBackward<T, Acc>{act, gated, rows, P, z, R, P, dh.data(), dz, R});

  // dx = dz·w1  [rows, H].
  cpu::gemm(platform::gemm_args(rows, H, R, static_cast<const T*>(dz), R, false, ex.w1, H, false,
                                ex.dx.data() + first_row * H, H));
}

template <typename T>
void expert_weight_gradient_block(BaselineState<T>& s, std::int64_t expert, bool first_layer,
                                  std::int64_t first_output_row) {
  using Acc = AccOf<T>;
  ExpertState<T>& ex = s.experts_state[static_cast<std::size_t>(expert)];
  const std::int64_t H = s.hidden, P = s.ffn, R = s.w1_rows, N = ex.rows;
  if (N == 0) return;  // no rows reached this expert: its gradients stay zero
  // first layer: dw1 = dzᵀ·x [R, H], db1 = Σ_n dz; second: dw2 = dyᵀ·h [H, P], db2 = Σ_n dy.
  const std::int64_t outputs = first_layer ? R : H, inner = first_layer ? H : P;
  const std::int64_t count = std::min(kRowBlock, outputs - first_output_row);
  const T* grad = first_layer ? ex.dz.data() : ex.dy.data();  // [N, outputs]
  const T* input = first_layer ? ex.x.data() : ex.h.data();   // [N, inner]
  Acc* dw = (first_layer ? ex.dw1 : ex.dw2) + first_output_row * inner;
  cpu::gemm(platform::gemm_args(count, inner, N, grad + first_output_row, outputs, true, input,
                                inner, false, dw, inner));

  Acc* db = first_layer ? ex.db1 : ex.db2;
  if (db == nullptr) return;
  for (std::int64_t o = first_output_row; o < first_output_row + count; ++o) {
    Acc sum = Acc(0);  // over rows in increasing order: deterministic
    for (std::int64_t n = 0; n < N; ++n) sum += static_cast<Acc>(to_float(grad[n * outputs + o]));
    db[o] = sum;
  }
}

namespace {

std::vector<std::int64_t> rows_of(const auto& s, std::int64_t first, std::int64_t count) {
  std::vector<std::int64_t> rows;
  for (std::int64_t e = first; e < first + count; ++e)
    rows.push_back(s.experts_state[static_cast<std::size_t>(e)].rows);
  return rows;
}

}  // namespace

template <typename T>
void expert_forward_phase(BaselineState<T>& s, ThreadPool& pool, std::int64_t first,
                          std::int64_t count, bool keep_for_backward) {
  for_blocks(pool, blocks(rows_of(s, first, count), kRowBlock),
             [&](std::int64_t i, std::int64_t r0) {
               expert_forward_block(s, first + i, r0, keep_for_backward);
             });
}

template <typename T>
void expert_backward_phase(BaselineState<T>& s, ThreadPool& pool, std::int64_t first,
                           std::int64_t count) {
  for_blocks(pool, blocks(rows_of(s, first, count), kRowBlock),
             [&](std::int64_t i, std::int64_t r0) { expert_backward_block(s, first + i, r0); });
}

template <typename T>
void expert_weight_gradient_phase(BaselineState<T>& s, ThreadPool& pool, std::int64_t first,
                                  std::int64_t count) {
  // Output rows of dw1 and dw2 of every expert, as owners (2i, ·) and (2i + 1, ·).
  std::vector<std::int64_t> outputs;
  for (std::int64_t i = 0; i < count; ++i) {
    outputs.push_back(s.w1_rows);
    outputs.push_back(s.hidden);
  }
  for_blocks(pool, blocks(outputs, kRowBlock), [&](std::int64_t i, std::int64_t o0) {
    expert_weight_gradient_block(s, first + i / 2, i % 2 == 0, o0);
  });
}

#define FLASHMOE_INSTANTIATE(T)                                                               \
  template void expert_forward_block<T>(BaselineState<T>&, std::int64_t, std::int64_t, bool); \
  template void expert_backward_block<T>(BaselineState<T>&, std::int64_t, std::int64_t);      \
  template void expert_weight_gradient_block<T>(BaselineState<T>&, std::int64_t, bool,        \
                                                std::int64_t);                                \
  template void expert_forward_phase<T>(BaselineState<T>&, ThreadPool&, std::int64_t,         \
                                        std::int64_t, bool);                                  \
  template void expert_backward_phase<T>(BaselineState<T>&, ThreadPool&, std::int64_t,        \
                                         std::int64_t);                                       \
  template void expert_weight_gradient_phase<T>(BaselineState<T>&, ThreadPool&, std::int64_t, \
                                                std::int64_t);
FLASHMOE_INSTANTIATE(double)
FLASHMOE_INSTANTIATE(float)
FLASHMOE_INSTANTIATE(bfloat16)
#undef FLASHMOE_INSTANTIATE

}  // namespace flashmoe::bench::detail
