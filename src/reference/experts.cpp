// SPEC §2.6 and the expert part of §3: one expert FFN on one token row, forward and backward.
// Plain activations: z = w1·x + b1, h = act(z). Gated (swiglu, geglu): rows 0..P−1 of w1 give
// the gate g, rows P..2P−1 the up projection u, and h = act(g) ⊙ u. Then y = w2·h + b2.
#include "math/activation.hpp"
#include "reference/model.hpp"

namespace flashmoe::reference::detail {

template <typename T>
SlotActivations<T> expert_forward(const Config& c, const ExpertWeights<T>& expert, const T* x_row) {
  const std::int64_t H = c.hidden, P = c.ffn, R = c.w1_rows();
  const bool gated = is_gated(c.activation);
  SlotActivations<T> slot;
  slot.pre.assign(static_cast<std::size_t>(R), T(0));  // [R]
  slot.h.assign(static_cast<std::size_t>(P), T(0));    // [P]
  slot.y.assign(static_cast<std::size_t>(H), T(0));    // [H]
  for (std::int64_t i = 0; i < R; ++i) {
    T sum = T(0);
    for (std::int64_t h = 0; h < H; ++h) sum += expert.w1[i * H + h] * x_row[h];
    slot.pre[i] = sum + expert.b1[i];
  }
  for (std::int64_t p = 0; p < P; ++p) {
    const T activated = math::activate(c.activation, slot.pre[p]);
    slot.h[p] = gated ? activated * slot.pre[P + p] : activated;
  }
  for (std::int64_t o = 0; o < H; ++o) {
    T sum = T(0);
    for (std::int64_t p = 0; p < P; ++p) sum += expert.w2[o * P + p] * slot.h[p];
    slot.y[o] = sum + expert.b2[o];
  }
  return slot;
}

template <typename T>
void expert_backward(const Config& c, const ExpertWeights<T>& expert,
                     const SlotActivations<T>& slot, const T* x_row, const T* dy,
                     ExpertGradients<T> grads, T* dx_row) {
  const std::int64_t H = c.hidden, P = c.ffn, R = c.w1_rows();
  const bool gated = is_gated(c.activation);

  // dh = w2ᵀ·dy;  dw2 += dy ⊗ h;  db2 += dy.
  std::vector<T> dh(static_cast<std::size_t>(P), T(0));  // [P]
  for (std::int64_t o = 0; o < H; ++o) {
    for (std::int64_t p = 0; p < P; ++p) {
      dh[p] += expert.w2[o * P + p] * dy[o];
      grads.dw2[o * P + p] += dy[o] * slot.h[p];
    }
    grads.db2[o] += dy[o];
  }

  // Gradient of the pre-activation. Plain: dz = dh ⊙ act′(z).
  // Gated: dg = dh ⊙ u ⊙ act′(g) into rows 0..P−1, du = dh ⊙ act(g) into rows P..2P−1.
  std::vector<T> dpre(static_cast<std::size_t>(R), T(0));  // [R]
  for (std::int64_t p = 0; p < P; ++p) {
    const T derivative = math::activate_derivative(c.activation, slot.pre[p]);
    if (gated) {
      const T u = slot.pre[P + p];
      dpre[p] = dh[p] * u * derivative;
      dpre[P + p] = dh[p] * math::activate(c.activation, slot.pre[p]);
    } else {
      dpre[p] = dh[p] * derivative;
    }
  }

  // dw1 += dpre ⊗ x;  db1 += dpre;  dx += w1ᵀ·dpre.
  for (std::int64_t i = 0; i < R; ++i) {
    for (std::int64_t h = 0; h < H; ++h) {
      grads.dw1[i * H + h] += dpre[i] * x_row[h];
      dx_row[h] += expert.w1[i * H + h] * dpre[i];
    }
    grads.db1[i] += dpre[i];
  }
}

template SlotActivations<float> expert_forward<float>(const Config&, const ExpertWeights<float>&,
                                                      const float*);
template SlotActivations<double> expert_forward<double>(const Config&, const ExpertWeights<double>&,
                                                        const double*);
template void expert_backward<float>(const Config&, const ExpertWeights<float>&,
                                     const SlotActivations<float>&, const float*, const float*,
                                     ExpertGradients<float>, float*);
template void expert_backward<double>(const Config&, const ExpertWeights<double>&,
                                      const SlotActivations<double>&, const double*, const double*,
                                      ExpertGradients<double>, double*);

}  // namespace flashmoe::reference::detail
