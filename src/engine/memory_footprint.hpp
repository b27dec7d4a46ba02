// The engine's buffers, sized before anything is allocated (issue 10 item 3): a layer whose
// workspaces cannot fit in the memory this process may still take (common/memory_available.hpp)
// is refused with the number, what it is made of and the options that drive it — instead of an
// allocation failing later as "out of memory" with no cause.
#pragma once

#include "flashmoe/config.hpp"
#include "runtime/workspace_layout.hpp"

namespace flashmoe::engine {

// `layout` is one rank's (its symmetric and private areas); `local_ranks` ranks live in this
// process (all W in process, 1 per MPI process). Throws flashmoe::Error when they need more
// than is available; does nothing when the available memory cannot be read.
void check_workspaces_fit(const runtime::WorkspaceLayout& layout, const Config& config,
                          int world_size, int local_ranks);

// The same check before any input exists, for the smallest workspaces the engine can be given
// (EngineOptions' defaults — one member per processor group, one subscriber partition, the
// default tiles — and one processor group): a command refuses a layer that cannot fit before it
// spends a minute generating gigabytes of inputs, and never refuses one the engine would take.
void check_smallest_workspaces_fit(const Config& config, int world_size, int local_ranks);

}  // namespace flashmoe::engine
