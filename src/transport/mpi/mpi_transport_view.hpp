// MpiTransportView: the local TransportView's operations (transport/local/local_world.hpp) over
// an MPI-3 RMA window, for ranks that are processes. Same names, same semantics:
//   put(dest, offset, source, bytes)  copy bytes into dest's symmetric buffer at offset; the
//                                     source may be reused as soon as put returns;
//   signal_store / signal_add         a 64-bit store / add on a word of dest's buffer, ordered
//                                     after every put this rank issued to dest before it;
//   poll(own rank, offset)            the word's current value, with acquire meaning: data that
//                                     was put before the signal that produced the value is
//                                     visible to this rank's loads after poll returns;
//   aborted()                         some rank raised abort (raise_abort) — stop waiting.
// Difference from the local view: a rank reads only its OWN buffer (poll and at() take the own
// rank, checked); the other buffers live in other processes, reachable only by put and signal.
//
// Memory-ordering argument (MPI-3.1 §11.7, unified model — MpiWorld checks MPI_WIN_MODEL):
//  1. put = MPI_Put + MPI_Win_flush_local(dest): the source buffer is reusable on return
//     (local completion), like the local view's memcpy.
//  2. signal = MPI_Win_flush(dest) + MPI_Accumulate(MPI_REPLACE | MPI_SUM, MPI_UINT64_T) +
//     MPI_Win_flush(dest). The first flush completes every earlier put of this process to dest
//     AT THE TARGET (remote completion) before the signal is even issued, so no reordering of
//     puts and accumulates inside MPI or the network can let the signal overtake its data. The
//     second flush completes the signal, so it becomes visible without any later call by us.
//     Across threads of one rank: MPI_Win_flush completes every operation the PROCESS issued to
//     dest before the call, whichever thread issued it. So when worker A's puts happen-before
//     worker B's signal (e.g. through an acq_rel tile counter, as the engine's last dispatch
//     tile does), B's flush completes A's puts at dest before B's signal is issued.
//  3. poll = MPI_Fetch_and_op(MPI_NO_OP) on the own rank + MPI_Win_flush_local, then
//     MPI_Win_sync. Signal words are updated by peers' accumulates while we read them; MPI only
//     defines the result of a concurrent read when it is itself an accumulate-class operation on
//     the same basic type (element-wise atomicity), so the word is read with Fetch_and_op, not a
//     plain load. MPI_Win_sync then synchronises the public and private window copies (a memory
//     barrier in the unified model): the payload, complete at this target before the signal was
//     issued (2), is visible to the plain loads the caller makes through at() afterwards.
//     A side effect that matters: every poll enters MPI, which drives the progress engine —
//     over networks without hardware RMA (TCP), peers' puts into this rank are applied by this
//     rank's MPI calls, so a poll loop made of plain loads could wait forever.
// Words addressed by signals must be 8-byte aligned, touched only through signal_* and poll,
// and never written locally while a peer may signal them (reset them between passes with plain
// stores followed by MpiWorld::pass_fence, which keeps every rank's traffic off the reset).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>

#include "flashmoe/error.hpp"
#include "transport/mpi/mpi_call_watchdog.hpp"

namespace flashmoe::transport {

struct MpiTransportView {
  MPI_Win window = MPI_WIN_NULL;
  std::byte* local_buffer = nullptr;  // this rank's symmetric buffer (window base)
  int rank = 0;
  int world_size = 0;
  std::size_t bytes_per_rank = 0;  // caller's part of the buffer; offsets stay below it
  std::size_t abort_offset = 0;    // the transport's abort word, after the caller's part
  // Sees every call towards another rank while it is in flight (put, signals, raise_abort) and
  // ends the job if one never returns; null: not watched (mpi_call_watchdog.hpp).
  MpiCallWatchdog* watchdog = nullptr;

  void put(int dest_rank, std::size_t offset, const void* source, std::size_t bytes) const;
  void signal_store(int dest_rank, std::size_t offset, std::uint64_t value) const;
  void signal_add(int dest_rank, std::size_t offset, std::uint64_t value) const;
  std::uint64_t poll(int own_rank, std::size_t offset) const;

  bool aborted() const { return abort_origin() >= 0; }
  // The lowest rank that raised abort, or -1.
  int abort_origin() const;
  // Marks every rank's abort word (own included) with this rank, so their waits end with an
  // error naming it instead of a timeout. Best effort towards dead peers: over a network a flush
  // to a process that died may itself fail, which is reported as an MPI error.
  void raise_abort() const;
  // Resets this rank's abort word; only through MpiWorld::clear_abort (collective).
  void clear_own_abort() const;

  // This rank's own buffer only; another rank's memory is not addressable from this process.
  template <typename T>
  T* at(int own_rank, std::size_t offset) const {
    FLASHMOE_CHECK(own_rank == rank, "MPI transport: rank ", rank, " addressed rank ", own_rank,
                   "'s buffer directly; only the own buffer is local (use put/signal)");
    return reinterpret_cast<T*>(local_buffer + offset);
  }
};

}  // namespace flashmoe::transport
