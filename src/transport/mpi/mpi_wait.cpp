#include "transport/mpi/mpi_wait.hpp"

#include <string>

#include "flashmoe/error.hpp"

namespace flashmoe::transport::mpi_detail {
namespace {

std::string awaited(const WaitSubject& subject) {
  return subject.peer >= 0 ? "rank " + std::to_string(subject.peer) : std::string("any rank");
}

}  // namespace

void fail_wait_timeout(const MpiTransportView& world, std::size_t offset, std::uint64_t last_value,
                       double timeout_s, const WaitSubject& subject) {
  throw TimeoutError(detail::concat(
      "rank ", world.rank, " of ", world.world_size, ": timed out after ", timeout_s,
      " s waiting for ", awaited(subject), ": ", subject.what, " (signal word at offset ", offset,
      " still ", last_value, "); the peer stalled, died or never sent it"));
}

void fail_wait_aborted(const MpiTransportView& world, const WaitSubject& subject) {
  throw Error(detail::concat("rank ", world.rank, " of ", world.world_size,
                             ": stopped waiting for ", awaited(subject), ": ", subject.what,
                             ": rank ", world.abort_origin(), " raised abort"));
}

}  // namespace flashmoe::transport::mpi_detail
