// The baseline's data movement: pack each rank's routed rows per destination expert, the
// all-to-all into per-expert contiguous buffers (rows ordered by source rank, then by slot
// position — the order an all-to-all delivers), the way back, and the combine. Only kept rows
// move; a dropped slot moves nothing.
#include <algorithm>
#include <cstring>

#include "bench/baseline_state.hpp"

namespace flashmoe::bench::detail {
namespace {

// Row of slot (t, j) in its rank's packets, or −1 when the slot was dropped.
template <typename T>
std::int64_t packet_row(const RankState<T>& r, std::int64_t slot) {
  const auto s = static_cast<std::size_t>(slot);
  if (!r.kept[s]) return -1;
  return r.packet_offset[static_cast<std::size_t>(r.topk_index[s])] + r.position[s];
}

}  // namespace

template <typename T>
void pack_x_block(BaselineState<T>& s, int rank, std::int64_t first_token) {
  RankState<T>& r = s.ranks[static_cast<std::size_t>(rank)];
  const std::int64_t H = s.hidden, k = s.top_k;
  const std::int64_t end = std::min(first_token + kTokenBlock, r.tokens);
  for (std::int64_t t = first_token; t < end; ++t)
    for (std::int64_t j = 0; j < k; ++j)
      if (const std::int64_t row = packet_row(r, t * k + j); row >= 0)
        std::memcpy(&r.send_rows[static_cast<std::size_t>(row * H)], r.x + t * H,
                    static_cast<std::size_t>(H) * sizeof(T));
}

template <typename T>
void pack_dy_block(BaselineState<T>& s, int rank, std::int64_t first_token) {
  using Acc = AccOf<T>;
  RankState<T>& r = s.ranks[static_cast<std::size_t>(rank)];
  const std::int64_t H = s.hidden, k = s.top_k;
  const std::int64_t end = std::min(first_token + kTokenBlock, r.tokens);
  for (std::int64_t t = first_token; t < end; ++t) {
    const T* dout = r.dout + t * H;
    for (std::int64_t j = 0; j < k; ++j) {
      const std::int64_t row = packet_row(r, t * k + j);
      Acc& dweight = r.slot_dweight[static_cast<std::size_t>(t * k + j)];
      dweight = Acc(0);
      if (row < 0) continue;
      // dy = w·dout (rounded to the storage type for the expert GEMMs); r = ⟨dout, y⟩.
      const Acc weight = r.topk_weight[static_cast<std::size_t>(t * k + j)];
      const Acc* y = &r.y_rows[static_cast<std::size_t>(row * H)];
      T* dy = &r.send_rows[static_cast<std::size_t>(row * H)];
      for (std::int64_t h = 0; h < H; ++h) {
        const Acc d = static_cast<Acc>(to_float(dout[h]));
        dy[h] = from_float<T>(weight * d);
        dweight += d * y[h];
      }
    }
  }
}

template <typename T>
void size_expert(BaselineState<T>& s, std::int64_t expert) {
  ExpertState<T>& ex = s.experts_state[static_cast<std::size_t>(expert)];
  const std::size_t W = s.ranks.size();
  ex.source_offset.assign(W + 1, 0);
  for (std::size_t r = 0; r < W; ++r)
    ex.source_offset[r + 1] =
        ex.source_offset[r] + s.ranks[r].accepted[static_cast<std::size_t>(expert)];
  ex.rows = ex.source_offset.back();
  const auto n = static_cast<std::size_t>(ex.rows);
  ex.x.assign(n * static_cast<std::size_t>(s.hidden), T{});
  ex.h.assign(n * static_cast<std::size_t>(s.ffn), T{});
  ex.y.assign(n * static_cast<std::size_t>(s.hidden), AccOf<T>(0));
  if (s.problem->backward) {
    ex.z.assign(n * static_cast<std::size_t>(s.w1_rows), AccOf<T>(0));
    ex.dy.assign(n * static_cast<std::size_t>(s.hidden), T{});
    ex.dz.assign(n * static_cast<std::size_t>(s.w1_rows), T{});
    ex.dx.assign(n * static_cast<std::size_t>(s.hidden), AccOf<T>(0));
  }
}

template <typename T>
void receive_rows(BaselineState<T>& s, std::int64_t expert, bool backward) {
  ExpertState<T>& ex = s.experts_state[static_cast<std::size_t>(expert)];
  const std::int64_t H = s.hidden;
  T* destination = backward ? ex.dy.data() : ex.x.data();
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    const RankState<T>& source = s.ranks[r];
    const std::int64_t first = source.packet_offset[static_cast<std::size_t>(expert)];
    const std::int64_t count = source.accepted[static_cast<std::size_t>(expert)];
    if (count == 0) continue;
    std::memcpy(destination + ex.source_offset[r] * H, source.send_rows.data() + first * H,
                static_cast<std::size_t>(count * H) * sizeof(T));
  }
}

template <typename T>
void return_rows(BaselineState<T>& s, std::int64_t expert, bool backward) {
  ExpertState<T>& ex = s.experts_state[static_cast<std::size_t>(expert)];
  const std::int64_t H = s.hidden;
  const AccOf<T>* source_rows = backward ? ex.dx.data() : ex.y.data();
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    RankState<T>& destination = s.ranks[r];
    const std::int64_t first = destination.packet_offset[static_cast<std::size_t>(expert)];
    const std::int64_t count = destination.accepted[static_cast<std::size_t>(expert)];
    if (count == 0) continue;
    auto& rows = backward ? destination.dx_rows : destination.y_rows;
    std::memcpy(rows.data() + first * H, source_rows + ex.source_offset[r] * H,
                static_cast<std::size_t>(count * H) * sizeof(AccOf<T>));
  }
}

template <typename T>
void combine_block(BaselineState<T>& s, int rank, std::int64_t first_token) {
  using Acc = AccOf<T>;
  RankState<T>& r = s.ranks[static_cast<std::size_t>(rank)];
  const std::int64_t H = s.hidden, k = s.top_k;
  const std::int64_t end = std::min(first_token + kTokenBlock, r.tokens);
  for (std::int64_t t = first_token; t < end; ++t) {
    Acc* out = &r.out[static_cast<std::size_t>(t * H)];  // zero-initialised
    // §2.7: Σ_j in increasing j; a dropped slot adds nothing.
    for (std::int64_t j = 0; j < k; ++j) {
      const std::int64_t row = packet_row(r, t * k + j);
      if (row < 0) continue;
      const Acc weight = r.topk_weight[static_cast<std::size_t>(t * k + j)];
      const Acc* y = &r.y_rows[static_cast<std::size_t>(row * H)];
      for (std::int64_t h = 0; h < H; ++h) out[h] += weight * y[h];
    }
  }
}

#define FLASHMOE_INSTANTIATE(T)                                         \
  template void pack_x_block<T>(BaselineState<T>&, int, std::int64_t);  \
  template void pack_dy_block<T>(BaselineState<T>&, int, std::int64_t); \
  template void size_expert<T>(BaselineState<T>&, std::int64_t);        \
  template void receive_rows<T>(BaselineState<T>&, std::int64_t, bool); \
  template void return_rows<T>(BaselineState<T>&, std::int64_t, bool);  \
  template void combine_block<T>(BaselineState<T>&, int, std::int64_t);
FLASHMOE_INSTANTIATE(double)
FLASHMOE_INSTANTIATE(float)
FLASHMOE_INSTANTIATE(bfloat16)
#undef FLASHMOE_INSTANTIATE

}  // namespace flashmoe::bench::detail
