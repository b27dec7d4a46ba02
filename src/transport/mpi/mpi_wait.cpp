#include "transport/mpi/mpi_wait.hpp"

#include <string>

#include "flashmoe/error.hpp"

namespace flashmoe::transport::mpi_detail {
namespace {

std::string awaited(const WaitSubject& subject) {
  return subject.peer >= 0 ? "rank " + std::to_string(subject.peer) : std::string("any rank");
}

}  // namespace

void fail_wait_timeout(const MpiTransport& world, std::size_t offset, std::uint64_t last_value,
                       double timeout_s, const WaitSubject& subject) {
  throw TimeoutError(detail::concat(
      "rank ", world.own_rank, " of ", world.ranks, ": timed out after ", timeout_s,
      " s waiting for ", awaited(subject), ": ", subject.what, " (signal word at offset ", offset,
      " still ", last_value, "); the peer stalled, died or never sent it"));
}

void fail_wait_aborted(const MpiTransport& world, const WaitSubject& subject, std::uint32_t epoch) {
  throw Error(detail::concat("rank ", world.own_rank, " of ", world.ranks, ": stopped waiting for ",
                             awaited(subject), ": ", subject.what, ": rank ",
                             world.abort_origin(epoch), " raised abort"));
}

}  // namespace flashmoe::transport::mpi_detail
