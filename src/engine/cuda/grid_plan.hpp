// How many blocks the persistent kernel gets (plain host code, unit-tested on the CPU): every
// block of a pass must be co-resident — blocks wait on each other, so one that is not scheduled
// until another finishes would hang the pass —, so the grid is derived from the device's
// multiprocessor count and the kernel's measured occupancy, never from a hard-coded SM count,
// and a request that cannot be co-resident is refused with the numbers that decide it.
#pragma once

#include <cstdint>
#include <string>

namespace flashmoe::cuda {

struct GridRequest {
  int multiprocessors = 0;            // of the device (cudaDevAttrMultiProcessorCount)
  int blocks_per_multiprocessor = 0;  // the kernel's occupancy at its block size
  int reserved_multiprocessors = 0;   // left free for other streams (communication, the model)
  int world_size = 1;                 // ranks on this GPU
  int processor_groups = 0;           // per rank; 0: as many as fit
  bool dedicated_roles = false;       // a scheduler block and `subscribers` subscriber blocks
  int subscribers = 1;                // per rank
};

struct GridPlan {
  int processor_groups = 0;      // per rank
  int blocks_per_rank = 0;       // processor groups + role blocks
  int grid_blocks = 0;           // world size × blocks per rank
  int resident_blocks = 0;       // what the device holds at once (the unreserved SMs' occupancy)
  std::string describe() const;  // "4 ranks × 33 blocks (32 processor groups + ...) of 264"
};

// Throws flashmoe::Error (naming the numbers) when the request cannot be co-resident.
GridPlan plan_grid(const GridRequest& request);

}  // namespace flashmoe::cuda
