// Allocation: what one local rank of a layer owns on the CPU — its private area (laid out by the
// WorkspaceLayout), one scratch block and one barrier per participant, and the rank's fixed
// program state that every pass starts from. Built once with the layer; nothing here is
// allocated again by a pass.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "engine/engine.hpp"
#include "platform/cpu/thread_group.hpp"
#include "runtime/rank_state.hpp"

namespace flashmoe::engine {

struct AlignedBlock {
  struct Delete {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{64}); }
  };
  std::unique_ptr<std::byte[], Delete> bytes;

  explicit AlignedBlock(std::size_t size)
      : bytes(static_cast<std::byte*>(
            ::operator new[](std::max<std::size_t>(size, 64), std::align_val_t{64}))) {}
  std::byte* get() const { return bytes.get(); }
};

// Zero-fills [0, bytes) of `area` except the given regions.
inline void clear_except(std::byte* area, std::size_t bytes, std::vector<runtime::Region> skipped) {
  std::sort(skipped.begin(), skipped.end(),
            [](const runtime::Region& a, const runtime::Region& b) { return a.offset < b.offset; });
  std::size_t at = 0;
  for (const runtime::Region& region : skipped) {
    if (region.offset > at) std::memset(area + at, 0, region.offset - at);
    at = std::max(at, region.end());
  }
  if (bytes > at) std::memset(area + at, 0, bytes - at);
}

// The regions that are never read before a pass wrote them, so they are not zero-filled at
// construction (they are most of the memory). Why each is written before it is read:
//  - x_rows, dy_rows and row_origins: a packet's rows [0, rows) are put by its source before
//    the signal that carries `rows` and the pass's epoch; readers (expert tasks, dW,
//    return_rows) touch only rows below the rows of a signal of the current epoch.
//  - y_slots, dx_slots: read (combine, gate gradient, input gradient) only for kept slots of a
//    token tile whose counter has grown by the row blocks expected for it this pass, i.e. after
//    every H-column block of every kept slot was put by its expert's owner.
//  - z, h, dz: rows [0, packet rows) of a packet are written by expert_up / expert_grad_hidden
//    before the tasks that read them are scheduled (by those writers); no reader goes beyond.
// Every other byte — signals, counters, flags, pass words, mailboxes, routing — starts at zero.
inline std::vector<runtime::Region> symmetric_data_regions(const runtime::WorkspaceLayout& l) {
  return {l.row_origins, l.x_rows, l.dy_rows, l.y_slots, l.dx_slots};
}
inline std::vector<runtime::Region> private_data_regions(const runtime::WorkspaceLayout& l) {
  return {l.z, l.h, l.dz};
}

template <typename T, typename Transport>
struct RankWorkspace {
  // `fixed` is what every pass's RankState starts from (make_pass_state).
  RankWorkspace(int rank, const runtime::WorkspaceLayout& layout,
                const runtime::LayerSettings& settings, const runtime::FaultInjection& faults,
                Transport transport, int participants, int group_size)
      : private_area(layout.private_bytes) {
    clear_except(private_area.get(), layout.private_bytes, private_data_regions(layout));
    fixed.rank = rank;
    fixed.layout = layout;
    fixed.settings = settings;
    fixed.faults = faults;
    fixed.transport = transport;
    fixed.private_area = private_area.get();
    for (std::int64_t g = 0; g < layout.shape.processor_groups; ++g) {
      scratch.emplace_back(layout.group_scratch_bytes);
      barriers.push_back(std::make_unique<cpu::GroupShared>(group_size));
    }
    for (std::int64_t p = layout.shape.processor_groups; p < participants; ++p)
      barriers.push_back(std::make_unique<cpu::GroupShared>(1));
  }

  AlignedBlock private_area;
  runtime::RankState<T, Transport> fixed;
  std::vector<AlignedBlock> scratch;                        // [processor groups]
  std::vector<std::unique_ptr<cpu::GroupShared>> barriers;  // [participants]
};

}  // namespace flashmoe::engine
