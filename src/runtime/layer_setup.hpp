// Host-side set-up shared by every engine (the CPU's and the GPU's): a configuration and world as
// the program's LayerShape and LayerSettings, and the TimeoutError message of a pass that gave
// up waiting — so both backends size their workspaces, and word their errors, the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "flashmoe/config.hpp"
#include "runtime/rank_state.hpp"
#include "runtime/subscriber.hpp"
#include "runtime/workspace_layout.hpp"

namespace flashmoe::runtime {

// The layer's shape for `world_size` ranks whose program runs `processor_groups` groups of
// `group_size` members and `subscriber_partitions` subscriber partitions; elements of
// `storage_bytes` (the dtype) accumulated in `accumulate_bytes`.
LayerShape layer_shape(const Config& config, int world_size, std::size_t storage_bytes,
                       std::size_t accumulate_bytes, std::int64_t processor_groups,
                       std::int64_t group_size, std::int64_t subscriber_partitions);

LayerSettings layer_settings(const Config& config);

// "rank 0 timed out after 0.5 s in the forward pass waiting for the dispatch packet of local
// expert 1 from rank 1 (signal epoch 1)", and the like for every WaitDescription.
std::string timeout_message(int rank, double timeout_s, PassKind pass, std::uint32_t epoch,
                            const WaitDescription& waited_for);

}  // namespace flashmoe::runtime
