#include "platform/cpu/failure.hpp"

#include "flashmoe/error.hpp"

namespace flashmoe::platform {

void fail_queue_overflow(int rank, std::uint64_t capacity) {
  FLASHMOE_FAIL("rank ", rank, ": task queue overflow (capacity ", capacity,
                " tasks per pass); the workspace layout's worst-case bound is wrong");
}

void fail_packet_mismatch(int rank, int source_rank, int local_expert, std::uint64_t forward_rows,
                          std::uint64_t gradient_rows) {
  FLASHMOE_FAIL("rank ", rank, ": the dy packet of local expert ", local_expert, " from rank ",
                source_rank, " has ", gradient_rows, " rows, its forward packet had ",
                forward_rows);
}

}  // namespace flashmoe::platform
