// Softmax with max subtraction and log-sum-exp over a row (SPEC §2.1). Accumulation type T is
// float (fp32/bf16/fp16 layers) or double (fp64 layers).
#pragma once

#include <cmath>
#include <cstdint>

#include "flashmoe/macros.hpp"

namespace flashmoe::math {

// probs[e] = exp(logits[e] − m) / Σ exp(logits − m), m = max logits. Returns lse = m + log Σ.
// Summation is in increasing e (deterministic). n ≥ 1.
template <typename T>
FLASHMOE_HOST_DEVICE inline T softmax_row(const T* logits, T* probs, std::int64_t n) {
  T max_logit = logits[0];
  for (std::int64_t e = 1; e < n; ++e) max_logit = logits[e] > max_logit ? logits[e] : max_logit;
  T sum = T(0);
  for (std::int64_t e = 0; e < n; ++e) {
    probs[e] = std::exp(logits[e] - max_logit);
    sum += probs[e];
  }
  const T inv = T(1) / sum;
  for (std::int64_t e = 0; e < n; ++e) probs[e] *= inv;
  return max_logit + std::log(sum);
}

}  // namespace flashmoe::math
