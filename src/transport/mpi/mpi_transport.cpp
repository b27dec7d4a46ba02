#include "transport/mpi/mpi_transport.hpp"

#include <algorithm>
#include <atomic>

#include "transport/mpi/mpi_check.hpp"

namespace flashmoe::transport {
namespace {

// The low half of the abort word: 2^32 − 1 − rank (never 0), so MPI_MAX keeps the lowest rank.
constexpr std::uint64_t kRankMark = 0xffffffffu;

// MPI counts are int; larger puts go out in pieces of at most 1 GiB.
constexpr std::size_t kMaxPutChunk = std::size_t{1} << 30;

void check_peer(const MpiTransport& view, int dest_rank, const char* operation) {
  FLASHMOE_CHECK(dest_rank >= 0 && dest_rank < view.ranks, "MPI transport: rank ", view.own_rank,
                 ": ", operation, " to rank ", dest_rank, ", world size is ", view.ranks);
}

void check_word(const MpiTransport& view, std::size_t offset, const char* operation) {
  FLASHMOE_CHECK(
      offset % sizeof(std::uint64_t) == 0 && offset + sizeof(std::uint64_t) <= view.bytes_per_rank,
      "MPI transport: rank ", view.own_rank, ": ", operation, " at offset ", offset,
      ": signal words must be 8-byte aligned and inside the ", view.bytes_per_rank, "-byte buffer");
}

// Signals: remote completion of everything before, the atomic update, its own completion
// (argument 2 in the header).
void signal_word(const MpiTransport& view, int dest_rank, std::size_t offset, std::uint64_t value,
                 MPI_Op op, const char* call) {
  const MpiCallWatchdog::Watch watch(view.watchdog, call, dest_rank);
  FLASHMOE_MPI(MPI_Win_flush(dest_rank, view.window));
  FLASHMOE_MPI(MPI_Accumulate(&value, 1, MPI_UINT64_T, dest_rank, static_cast<MPI_Aint>(offset), 1,
                              MPI_UINT64_T, op, view.window));
  FLASHMOE_MPI(MPI_Win_flush(dest_rank, view.window));
}

// An atomic read of a word of the own window, followed by public → private synchronisation
// (argument 3 in the header).
std::uint64_t atomic_read_own(const MpiTransport& view, std::size_t offset) {
  const std::uint64_t unused = 0;
  std::uint64_t value = 0;
  FLASHMOE_MPI(MPI_Fetch_and_op(&unused, &value, MPI_UINT64_T, view.own_rank,
                                static_cast<MPI_Aint>(offset), MPI_NO_OP, view.window));
  FLASHMOE_MPI(MPI_Win_flush_local(view.own_rank, view.window));
  FLASHMOE_MPI(MPI_Win_sync(view.window));
  // Win_sync is the memory barrier (inside MPI); this compiler-only fence states that the
  // caller's later loads of the buffer must not move above the read of the word. (A thread
  // fence would add nothing to Win_sync, and GCC's ThreadSanitizer does not support one.)
  std::atomic_signal_fence(std::memory_order_acquire);
  return value;
}

}  // namespace

void MpiTransport::put(int dest_rank, std::size_t offset, const void* source,
                       std::size_t bytes) const {
  check_peer(*this, dest_rank, "put");
  FLASHMOE_CHECK(offset <= bytes_per_rank && bytes <= bytes_per_rank - offset,
                 "MPI transport: rank ", own_rank, ": put of ", bytes, " bytes at offset ", offset,
                 " to rank ", dest_rank, " overruns the ", bytes_per_rank, "-byte buffer");
  if (messenger != nullptr) {
    messenger->put(dest_rank, offset, source, bytes);
    return;
  }
  const MpiCallWatchdog::Watch watch(watchdog, "MPI_Put/MPI_Win_flush_local of put", dest_rank);
  const auto* from = static_cast<const std::byte*>(source);
  for (std::size_t done = 0; done < bytes;) {
    const std::size_t chunk = std::min(bytes - done, kMaxPutChunk);
    const int count = static_cast<int>(chunk);
    FLASHMOE_MPI(MPI_Put(from + done, count, MPI_BYTE, dest_rank,
                         static_cast<MPI_Aint>(offset + done), count, MPI_BYTE, window));
    done += chunk;
  }
  // Local completion: the caller may overwrite `source` now (the local view's memcpy contract).
  FLASHMOE_MPI(MPI_Win_flush_local(dest_rank, window));
}

void MpiTransport::signal(int dest_rank, std::size_t offset, std::uint64_t value,
                          portable::SignalOp op) const {
  check_peer(*this, dest_rank, "signal");
  check_word(*this, offset, "signal");
  if (messenger != nullptr) {
    messenger->signal(dest_rank, offset, value, op);
    return;
  }
  if (op == portable::SignalOp::set)
    signal_word(*this, dest_rank, offset, value, MPI_REPLACE,
                "MPI_Win_flush/MPI_Accumulate of signal_set");
  else
    signal_word(*this, dest_rank, offset, value, MPI_SUM,
                "MPI_Win_flush/MPI_Accumulate of signal_add");
}

void MpiTransport::quiet() const {
  if (messenger != nullptr) {
    messenger->quiet();
    return;
  }
  const MpiCallWatchdog::Watch watch(watchdog, "MPI_Win_flush_all of quiet", -1);
  FLASHMOE_MPI(MPI_Win_flush_all(window));
}

std::uint64_t MpiTransport::signal_fetch(std::size_t offset) const {
  check_word(*this, offset, "signal_fetch");
  return messenger != nullptr ? messenger->load_word(offset) : atomic_read_own(*this, offset);
}

int MpiTransport::abort_origin(std::uint32_t epoch) const {
  const std::uint64_t word =
      messenger != nullptr ? messenger->load_word(abort_offset) : atomic_read_own(*this, abort_offset);
  if (word == 0 || (word >> 32) < epoch) return -1;
  return static_cast<int>(kRankMark - (word & kRankMark));
}

void MpiTransport::raise_abort(std::uint32_t epoch) const {
  // An atomic MPI_MAX: the word ends up naming the latest pass and, within it, the LOWEST rank
  // that raised abort, whatever the order of arrival, so every rank's message names the same
  // origin. (Not MPI_Compare_and_swap: Open MPI 4.1's osc/rdma over the vader BTL crashes the
  // target on a 64-bit compare-and-swap; accumulates with MPI_MAX work on every osc component.)
  const std::uint64_t mark =
      (std::uint64_t{epoch} << 32) | (kRankMark - static_cast<std::uint64_t>(own_rank));
  if (messenger != nullptr) {
    messenger->raise_max_everywhere(abort_offset, mark);
    return;
  }
  const MpiCallWatchdog::Watch watch(watchdog, "MPI_Accumulate/MPI_Win_flush_all of raise_abort",
                                     -1);
  for (int peer = 0; peer < ranks; ++peer) {
    FLASHMOE_MPI(MPI_Accumulate(&mark, 1, MPI_UINT64_T, peer, static_cast<MPI_Aint>(abort_offset),
                                1, MPI_UINT64_T, MPI_MAX, window));
  }
  FLASHMOE_MPI(MPI_Win_flush_all(window));
}

}  // namespace flashmoe::transport
