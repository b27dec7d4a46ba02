// A broken invariant of the program ends it loudly, never by dropping work. What broke is a
// BrokenInvariant record, and its message comes from one function (broken_invariant_message):
//   - on the host the record is built and thrown at once, as a flashmoe::Error;
//   - on the device the first thread to break one writes the record to host-mapped memory (the
//     rank's `broken_invariant` pointer), fences it to the system, and traps (there is no
//     recovering from a sizing or protocol bug). The host reads the record after the failed
//     launch and throws the same message, so a Python caller sees what broke — a device printf
//     would only reach a terminal, and its argument buffer cost every thread of the persistent
//     kernel 32 B of local memory.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

#include "flashmoe/error.hpp"
#include "flashmoe/macros.hpp"
#include "portable/atomics.hpp"

namespace flashmoe::runtime {

struct BrokenInvariant {
  enum class Kind : std::uint32_t {
    none,
    queue_overflow,   // a push past the ready queue's capacity (`expected`)
    packet_mismatch,  // a dy packet of `found` rows whose forward packet had `expected`
  };
  // 0 while nothing broke; on the device the first thread to break an invariant swaps in 1
  // and then writes the rest, so the record is one failure's, never a mix of two.
  std::uint32_t claimed = 0;
  Kind kind = Kind::none;
  std::int32_t rank = -1;
  std::int32_t source_rank = -1;   // packet_mismatch: the packet's sender
  std::int32_t local_expert = -1;  // packet_mismatch: the packet's expert on `rank`
  std::uint64_t expected = 0;
  std::uint64_t found = 0;
};

// Host code (the device pass of nvcc parses it, never calls it).
inline std::string broken_invariant_message(const BrokenInvariant& b) {
  std::ostringstream m;
  m << "rank " << b.rank << ": ";
  switch (b.kind) {
    case BrokenInvariant::Kind::queue_overflow:
      m << "task queue overflow (capacity " << b.expected
        << "); a task was not queued — a sizing bug in WorkspaceLayout::task_capacity";
      break;
    case BrokenInvariant::Kind::packet_mismatch:
      m << "the dy packet of local expert " << b.local_expert << " from rank " << b.source_rank
        << " has " << b.found << " rows, its forward packet had " << b.expected
        << " — the ranks disagree on routing";
      break;
    case BrokenInvariant::Kind::none:
      m << "no broken invariant recorded";
      break;
  }
  return m.str();
}

// Ends the program with the invariant described by the scalars (the fields of
// BrokenInvariant): throws on the host; records it (first one wins) and traps on the device.
// `record` is where the device writes (null on the host; a device without one traps with
// nothing recorded). Scalars, not a record by reference: a not-inlined device call would need
// the record's address, and so a copy in local memory. Not inlined on the device, so the cold
// path's stores stay out of the hot loops' register allocation.
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void fail_invariant(
    BrokenInvariant* record, BrokenInvariant::Kind kind, int rank, int source_rank,
    int local_expert, std::uint64_t expected, std::uint64_t found) {
#if defined(__CUDA_ARCH__)
  if (record != nullptr &&
      portable::exchange_acq_rel<portable::Scope::system>(record->claimed, std::uint32_t{1}) == 0) {
    record->kind = kind;
    record->rank = rank;
    record->source_rank = source_rank;
    record->local_expert = local_expert;
    record->expected = expected;
    record->found = found;
    __threadfence_system();  // the record is in host memory before the trap ends the kernel
  }
  __trap();
#else
  (void)record;
  FLASHMOE_FAIL(broken_invariant_message(
      BrokenInvariant{0, kind, rank, source_rank, local_expert, expected, found}));
#endif
}

// A push past the queue's capacity: WorkspaceLayout::task_capacity was computed too small.
FLASHMOE_HOST_DEVICE inline void fail_queue_overflow(BrokenInvariant* record, int rank,
                                                     std::uint64_t capacity) {
  fail_invariant(record, BrokenInvariant::Kind::queue_overflow, rank, -1, -1, capacity, 0);
}

// A dy packet whose row count differs from its forward packet's: the ranks disagree on routing.
FLASHMOE_HOST_DEVICE inline void fail_packet_mismatch(BrokenInvariant* record, int rank,
                                                      int source_rank, int local_expert,
                                                      std::uint64_t forward_rows,
                                                      std::uint64_t gradient_rows) {
  fail_invariant(record, BrokenInvariant::Kind::packet_mismatch, rank, source_rank, local_expert,
                 forward_rows, gradient_rows);
}

}  // namespace flashmoe::runtime
