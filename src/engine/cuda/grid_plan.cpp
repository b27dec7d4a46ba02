#include "engine/cuda/grid_plan.hpp"

#include <algorithm>

#include "flashmoe/error.hpp"

namespace flashmoe::cuda {

std::string GridPlan::describe() const {
  const int roles = blocks_per_rank - processor_groups;
  return detail::concat(grid_blocks / blocks_per_rank, " rank(s) × ", blocks_per_rank, " blocks (",
                        processor_groups, " processor groups",
                        roles > 0 ? detail::concat(" + ", roles, " role blocks") : std::string(),
                        ") = ", grid_blocks, " of ", resident_blocks, " co-resident blocks");
}

GridPlan plan_grid(const GridRequest& r) {
  FLASHMOE_CHECK(r.multiprocessors > 0, "the device reports ", r.multiprocessors,
                 " multiprocessors");
  FLASHMOE_CHECK(r.blocks_per_multiprocessor > 0,
                 "the persistent kernel does not fit on a multiprocessor (occupancy 0 blocks per "
                 "SM: too many registers or too much shared memory for this device)");
  FLASHMOE_CHECK(r.reserved_multiprocessors >= 0 && r.reserved_multiprocessors < r.multiprocessors,
                 "reserved multiprocessors = ", r.reserved_multiprocessors, ": allowed are 0 to ",
                 r.multiprocessors - 1, " on this device (", r.multiprocessors, " SMs)");
  FLASHMOE_CHECK(r.world_size >= 1, "world size = ", r.world_size, ": must be at least 1");
  FLASHMOE_CHECK(r.processor_groups >= 0, "processor groups = ", r.processor_groups,
                 ": allowed are 0 (as many as fit) or a positive count");
  FLASHMOE_CHECK(!r.dedicated_roles || r.subscribers >= 1, "subscribers = ", r.subscribers,
                 ": dedicated roles need at least one subscriber block per rank");
  GridPlan plan;
  plan.resident_blocks =
      (r.multiprocessors - r.reserved_multiprocessors) * r.blocks_per_multiprocessor;
  const int roles = r.dedicated_roles ? 1 + r.subscribers : 0;
  const int per_rank = plan.resident_blocks / r.world_size;
  plan.processor_groups = r.processor_groups > 0 ? r.processor_groups : per_rank - roles;
  plan.blocks_per_rank = plan.processor_groups + roles;
  FLASHMOE_CHECK(plan.processor_groups >= 1 && plan.blocks_per_rank <= per_rank,
                 "the persistent kernel needs ", r.world_size, " rank(s) × ",
                 std::max(plan.processor_groups, 1) + roles, " blocks (",
                 std::max(plan.processor_groups, 1), " processor group(s)",
                 roles > 0 ? detail::concat(" + ", roles, " role blocks") : std::string(),
                 ") co-resident, but the device holds only ", plan.resident_blocks, " (",
                 r.multiprocessors - r.reserved_multiprocessors, " SMs × ",
                 r.blocks_per_multiprocessor, " blocks per SM",
                 r.reserved_multiprocessors > 0
                     ? detail::concat(", ", r.reserved_multiprocessors, " SMs reserved")
                     : std::string(),
                 "): use fewer ranks, processor groups or reserved SMs");
  plan.grid_blocks = plan.blocks_per_rank * r.world_size;
  return plan;
}

}  // namespace flashmoe::cuda
