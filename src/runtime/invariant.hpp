// A broken invariant of the program ends it loudly, never by dropping work: on the host a
// flashmoe::Error naming the rank and what broke; on the device the same message is printed and
// the kernel traps (there is no recovering from a sizing or protocol bug). On the device each is
// a call of its own: printf's argument buffer stays in its frame, off the kernel's hot path.
#pragma once

#include <cstdint>

#include "flashmoe/macros.hpp"

#if defined(__CUDA_ARCH__)
#include <cstdio>
#else
#include "flashmoe/error.hpp"
#endif

namespace flashmoe::runtime {

// A push past the queue's capacity: WorkspaceLayout::task_capacity was computed too small.
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void fail_queue_overflow(int rank, std::uint64_t capacity) {
#if defined(__CUDA_ARCH__)
  printf("flashmoe: rank %d: task queue overflow (capacity %llu)\n", rank,
         static_cast<unsigned long long>(capacity));
  __trap();
#else
  FLASHMOE_FAIL("rank ", rank, ": task queue overflow (capacity ", capacity,
                "); a task was not queued — a sizing bug in WorkspaceLayout::task_capacity");
#endif
}

// A dy packet whose row count differs from its forward packet's: the ranks disagree on routing.
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void fail_packet_mismatch(int rank, int source_rank, int local_expert,
                                                      std::uint64_t forward_rows,
                                                      std::uint64_t gradient_rows) {
#if defined(__CUDA_ARCH__)
  printf(
      "flashmoe: rank %d: dy packet of local expert %d from rank %d has %llu rows, forward "
      "had %llu\n",
      rank, local_expert, source_rank, static_cast<unsigned long long>(gradient_rows),
      static_cast<unsigned long long>(forward_rows));
  __trap();
#else
  FLASHMOE_FAIL("rank ", rank, ": the dy packet of local expert ", local_expert, " from rank ",
                source_rank, " has ", gradient_rows, " rows, its forward packet had ",
                forward_rows);
#endif
}

}  // namespace flashmoe::runtime
