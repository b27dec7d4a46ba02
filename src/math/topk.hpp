// Top-k selection with SPEC §2.2's tie rule: larger value first; equal values → lower index.
#pragma once

#include <cstdint>

#include "flashmoe/macros.hpp"

namespace flashmoe::math {

// True when (value a, index ia) ranks before (value b, index ib). NaN ranks after every number
// and NaNs among themselves by index, so the order is total and a NaN never displaces a number.
template <typename T>
FLASHMOE_HOST_DEVICE inline bool ranks_before(T a, std::int32_t ia, T b, std::int32_t ib) {
  const bool a_nan = a != a, b_nan = b != b;  // x != x only for NaN
  if (a_nan || b_nan) return !a_nan || (b_nan && ia < ib);
  return a > b || (a == b && ia < ib);
}

// Writes the k best indices of values[0..n) in rank order into out_index (and their values into
// out_value when non-null). Insertion into a sorted k-list: O(n·k), k ≤ 16, no allocation, and
// the result does not depend on evaluation order. NaN never ranks before a number.
// The list holds indices only and reads the values it compares from values[] (which it does
// not change): a local array of the chosen values, indexed at run time, would live in a GPU
// thread's local memory.
template <typename T>
FLASHMOE_HOST_DEVICE inline void topk_row(const T* values, std::int64_t n, std::int32_t k,
                                          std::int32_t* out_index, T* out_value) {
  std::int32_t count = 0;
  for (std::int32_t e = 0; e < static_cast<std::int32_t>(n); ++e) {
    const T v = values[e];
    if (count == k && !ranks_before(v, e, values[out_index[k - 1]], out_index[k - 1])) continue;
    std::int32_t pos = count < k ? count++ : k - 1;
    while (pos > 0 && ranks_before(v, e, values[out_index[pos - 1]], out_index[pos - 1])) {
      out_index[pos] = out_index[pos - 1];
      --pos;
    }
    out_index[pos] = e;
  }
  if (out_value != nullptr)
    for (std::int32_t j = 0; j < k; ++j) out_value[j] = values[out_index[j]];
}

}  // namespace flashmoe::math
