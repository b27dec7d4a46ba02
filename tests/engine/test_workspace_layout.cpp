// The workspace layout sizes and indexes every buffer: regions must be 64-byte aligned, pairwise
// disjoint, inside their area, and the index helpers must land exactly inside their region.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "runtime/workspace_layout.hpp"

namespace flashmoe::runtime {
namespace {

void expect_disjoint_and_aligned(std::vector<Region> regions, std::size_t area_bytes,
                                 const char* area) {
  // Empty regions (the widened inputs of a layer that needs none) sit at the offset where the
  // next one starts: order them first so they are not mistaken for an overlap.
  std::sort(regions.begin(), regions.end(), [](const Region& a, const Region& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.bytes < b.bytes;
  });
  for (std::size_t i = 0; i < regions.size(); ++i) {
    EXPECT_EQ(regions[i].offset % 64, 0u) << area << " region " << i;
    EXPECT_LE(regions[i].end(), area_bytes) << area << " region " << i;
    if (i + 1 < regions.size()) {
      EXPECT_LE(regions[i].end(), regions[i + 1].offset) << area << " regions overlap at " << i;
    }
  }
}

std::int64_t packets_times_tiles(const WorkspaceLayout& l) {
  return l.shape.world_size * l.shape.local_experts * l.packet_row_tiles;
}

struct Case {
  LayerShape shape;
  TileShape tiles;
};

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const int world : {1, 2, 4}) {
    for (const std::size_t storage : {2u, 4u, 8u}) {
      LayerShape s;
      s.world_size = world;
      s.experts = 8;
      s.local_experts = 8 / world;
      s.top_k = 3;
      s.hidden = 40;
      s.ffn = 24;
      s.w1_rows = 48;
      s.max_tokens = 129;
      s.packet_capacity = 97;
      s.storage_bytes = storage;
      s.accumulate_bytes = storage == 8 ? 8 : 4;
      s.processor_groups = 3;
      s.group_size = 2;
      s.subscriber_partitions = world;
      all.push_back({s, TileShape{16, 32, 16, 8, 8}});
      all.push_back({s, TileShape{}});
    }
  }
  return all;
}

TEST(WorkspaceLayout, RegionsAreAlignedDisjointAndInside) {
  for (const Case& c : cases()) {
    const WorkspaceLayout l = WorkspaceLayout::compute(c.shape, c.tiles);
    expect_disjoint_and_aligned(
        {l.packet_signals, l.combine_counters, l.dx_counters, l.row_origins,
         l.x_rows, l.dy_rows, l.y_slots, l.dx_slots},
        l.symmetric_bytes, "symmetric");
    expect_disjoint_and_aligned({l.group_tile, l.group_rows, l.group_partials},
                                l.group_scratch_bytes, "group scratch");
    expect_disjoint_and_aligned({l.pass_words,
                                 l.mailboxes,
                                 l.control,
                                 l.subscriber_partitions,
                                 l.logits,
                                 l.probs,
                                 l.lse,
                                 l.dlogits,
                                 l.topk_index,
                                 l.topk_weight,
                                 l.slot_grad,
                                 l.kept,
                                 l.position,
                                 l.tile_counts,
                                 l.tile_cursor,
                                 l.routed,
                                 l.accepted,
                                 l.tile_expected,
                                 l.tile_routed,
                                 l.tile_gate_grad,
                                 l.tile_scheduled,
                                 l.arrival_base,
                                 l.packet_rows,
                                 l.packet_seen,
                                 l.expert_packets_seen,
                                 l.expert_pending,
                                 l.row_tile_progress,
                                 l.wg_acc,
                                 l.x_acc,
                                 l.b1_acc,
                                 l.b2_acc,
                                 l.z,
                                 l.h,
                                 l.dz,
                                 l.queue_slots,
                                 l.queue_published},
                                l.private_bytes, "private");
  }
}

TEST(WorkspaceLayout, SizesFollowTheShape) {
  for (const Case& c : cases()) {
    const LayerShape& s = c.shape;
    const WorkspaceLayout l = WorkspaceLayout::compute(s, c.tiles);
    const auto n = [](std::int64_t v) { return static_cast<std::size_t>(v); };
    const std::int64_t packets = s.world_size * s.local_experts;
    // Packet signals: two slots, by epoch parity.
    EXPECT_EQ(l.packet_signals.bytes, 2 * 8 * n(packets));
    // Received x rows and their origins: two buffers, by forward parity.
    EXPECT_EQ(l.x_rows.bytes, 2 * s.storage_bytes * n(packets * s.packet_capacity * s.hidden));
    EXPECT_EQ(l.row_origins.bytes, 2 * 4 * n(packets * s.packet_capacity));
    EXPECT_EQ(l.dy_rows.bytes, s.storage_bytes * n(packets * s.packet_capacity * s.hidden));
    EXPECT_EQ(l.mailboxes.bytes, sizeof(Mailbox) * n(s.processor_groups));
    EXPECT_EQ(l.subscriber_partitions.bytes,
              sizeof(SubscriberPartition) * n(s.subscriber_partitions));
    // Widened copies of the inputs exist only where storage and accumulation types differ.
    EXPECT_EQ(l.wg_acc.bytes, s.storage_bytes != s.accumulate_bytes
                                  ? s.accumulate_bytes * n(s.experts * s.hidden)
                                  : 0u);
    EXPECT_EQ(l.y_slots.bytes, s.accumulate_bytes * n(s.max_tokens * s.top_k * s.hidden));
    EXPECT_EQ(l.z.bytes, s.accumulate_bytes * n(packets * s.packet_capacity * s.w1_rows));
    EXPECT_EQ(l.h.bytes, s.storage_bytes * n(packets * s.packet_capacity * s.ffn));
    EXPECT_EQ(l.token_tiles, (s.max_tokens + c.tiles.token_rows - 1) / c.tiles.token_rows);
    EXPECT_EQ(l.packet_row_tiles,
              (s.packet_capacity + c.tiles.expert_rows - 1) / c.tiles.expert_rows);
    EXPECT_GT(l.task_capacity, 0);
    // Group scratch: the largest staged tile (expert row tile × column tile, or a token tile of
    // full rows), one storage row per member, one partial per expert.
    const TileShape& t = c.tiles;
    const std::size_t tile_elements = static_cast<std::size_t>(std::max(
        t.expert_rows * std::max(t.ffn_columns, t.hidden_columns), t.token_rows * s.hidden));
    EXPECT_EQ(l.group_tile.bytes, tile_elements * s.accumulate_bytes);
    EXPECT_EQ(l.group_rows.bytes, n(s.group_size * s.hidden) * s.storage_bytes);
    EXPECT_EQ(l.group_partials.bytes, n(s.experts) * s.accumulate_bytes);
  }
}

TEST(WorkspaceLayout, IndexHelpersLandInsideTheirRegion) {
  for (const Case& c : cases()) {
    const LayerShape& s = c.shape;
    const WorkspaceLayout l = WorkspaceLayout::compute(s, c.tiles);
    const std::int64_t last_source = s.world_size - 1, last_expert = s.local_experts - 1;
    const std::int64_t last_row = s.packet_capacity - 1;
    EXPECT_EQ(l.packet_signal(2, 0, 0), l.packet_signals.offset);
    EXPECT_EQ(l.packet_signal(1, last_source, last_expert) + 8, l.packet_signals.end());
    EXPECT_EQ(l.packet_signal(3, 0, 0), l.packet_signal(1, 0, 0));
    EXPECT_NE(l.packet_signal(3, 0, 0), l.packet_signal(4, 0, 0));
    EXPECT_EQ(l.combine_counter(l.token_tiles - 1) + 8, l.combine_counters.end());
    EXPECT_EQ(l.dx_counter(l.token_tiles - 1) + 8, l.dx_counters.end());
    EXPECT_EQ(l.row_origin(1, last_source, last_expert, last_row) + 4, l.row_origins.end());
    const std::size_t row_bytes = static_cast<std::size_t>(s.hidden) * s.storage_bytes;
    EXPECT_EQ(l.x_row(1, last_source, last_expert, last_row) + row_bytes, l.x_rows.end());
    // Parity 1 starts where parity 0 ends.
    EXPECT_EQ(l.x_row(1, 0, 0, 0), l.x_row(0, last_source, last_expert, last_row) + row_bytes);
    EXPECT_EQ(l.row_origin(1, 0, 0, 0), l.row_origin(0, last_source, last_expert, last_row) + 4);
    EXPECT_EQ(l.dy_row(last_source, last_expert, last_row) + row_bytes, l.dy_rows.end());
    const std::size_t slot_bytes = static_cast<std::size_t>(s.hidden) * s.accumulate_bytes;
    EXPECT_EQ(l.y_slot(s.max_tokens - 1, s.top_k - 1) + slot_bytes, l.y_slots.end());
    EXPECT_EQ(l.dx_slot(s.max_tokens - 1, s.top_k - 1) + slot_bytes, l.dx_slots.end());
    // Consecutive packets do not share rows.
    if (s.local_experts > 1) {
      EXPECT_EQ(l.x_row(0, 0, 1, 0), l.x_row(0, 0, 0, last_row) + row_bytes);
    }
    EXPECT_EQ(l.row_tile_index(last_source, last_expert, l.packet_row_tiles - 1) + 1,
              packets_times_tiles(l));
  }
}

}  // namespace
}  // namespace flashmoe::runtime
