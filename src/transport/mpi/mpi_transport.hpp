// MpiTransport: portable/transport.hpp for ranks that are MPI processes, in one of two
// deliveries (MpiWorld picks one for the whole job, FLASHMOE_MPI_DELIVERY):
//   messages (default)  puts and signals are records in two-sided messages, batched per
//                       destination and sent by one communication thread per process; a signal
//                       rides in the same message as the rows before it, and a rank polls its
//                       own words as atomics (mpi_messenger.hpp has the argument);
//   rma                 every operation is an MPI-3 RMA call on the window of an MpiWorld, in
//                       the passive-target epoch the world keeps open for its whole life:
//   put(dest, offset, source, bytes)  MPI_Put + MPI_Win_flush_local: the source may be reused
//                                     as soon as put returns;
//   signal(dest, offset, value, op)   a 64-bit MPI_REPLACE / MPI_SUM accumulate on a word of
//                                     dest's buffer, issued only after every earlier put of
//                                     this process to dest completed at dest, and itself
//                                     completed before it returns;
//   put_group(g, ...)                 the group leader's put of the whole row;
//   put_with_signal                   both;
//   fence                             nothing: signal already orders (stronger than the
//                                     contract); quiet: MPI_Win_flush_all;
//   signal_fetch(offset)              the own word's current value, with acquire meaning;
//   local(offset)                     the own buffer (another rank's memory is not addressable
//                                     from this process);
//   aborted(epoch) / raise_abort      the world's abort word, tagged with the pass.
//
// The RMA delivery's memory-ordering argument follows; the messages delivery's is in
// mpi_messenger.hpp.
// Memory-ordering argument (MPI-3.1 §11.7, unified model — MpiWorld checks MPI_WIN_MODEL):
//  1. put = MPI_Put + MPI_Win_flush_local(dest): local completion, the source is reusable.
//  2. signal = MPI_Win_flush(dest) + MPI_Accumulate + MPI_Win_flush(dest). The first flush
//     completes every earlier put of this process to dest AT THE TARGET (remote completion)
//     before the signal is even issued, so no reordering of puts and accumulates inside MPI or
//     the network can let the signal overtake its data. The second flush completes the signal,
//     so it becomes visible without any later call by us. Across threads of one rank:
//     MPI_Win_flush completes every operation the PROCESS issued to dest before the call,
//     whichever thread issued it. So when a worker's puts happen-before another worker's signal
//     (through an acq_rel tile counter, or a group sync), the flush completes them first.
//  3. signal_fetch = MPI_Fetch_and_op(MPI_NO_OP) on the own rank + MPI_Win_flush_local, then
//     MPI_Win_sync. Signal words are updated by peers' accumulates while we read them; MPI only
//     defines the result of a concurrent read when it is itself an accumulate-class operation on
//     the same basic type (element-wise atomicity), so the word is read with Fetch_and_op, not a
//     plain load. MPI_Win_sync then synchronises the public and private window copies (a memory
//     barrier in the unified model): the payload, complete at this target before the signal was
//     issued (2), is visible to the plain loads the caller makes through local() afterwards.
//     A side effect that matters: every poll enters MPI, which drives the progress engine —
//     over networks without hardware RMA (TCP), peers' puts into this rank are applied by this
//     rank's MPI calls, so a poll loop made of plain loads could wait forever.
// Words addressed by signals must be 8-byte aligned and touched only through signal and
// signal_fetch; their owner never writes them (the program's counters only grow and its signals
// carry the pass's epoch, so no pass needs to reset a word a peer may be signalling).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>

#include "flashmoe/error.hpp"
#include "portable/transport.hpp"
#include "transport/mpi/mpi_call_watchdog.hpp"
#include "transport/mpi/mpi_messenger.hpp"

namespace flashmoe::transport {

struct MpiTransport {
  MPI_Win window = MPI_WIN_NULL;
  std::byte* local_buffer = nullptr;  // this rank's symmetric buffer (window base)
  int own_rank = 0;
  int ranks = 0;
  std::size_t bytes_per_rank = 0;  // caller's part of the buffer; offsets stay below it
  std::size_t abort_offset = 0;    // the transport's abort word, after the caller's part
  // Sees every call towards another rank while it is in flight (put, signals, raise_abort) and
  // ends the job if one never returns; null: not watched (mpi_call_watchdog.hpp).
  MpiCallWatchdog* watchdog = nullptr;
  // The messages delivery's communication thread; null: the RMA delivery.
  MpiMessenger* messenger = nullptr;

  int rank() const { return own_rank; }
  int world_size() const { return ranks; }
  void put(int dest_rank, std::size_t offset, const void* source, std::size_t bytes) const;
  // One MPI_Put for the whole row, by the group's leader.
  template <typename G>
  void put_group(const G& g, int dest_rank, std::size_t offset, const void* source,
                 std::size_t bytes) const {
    portable::put_by_leader(*this, g, dest_rank, offset, source, bytes);
  }
  void signal(int dest_rank, std::size_t offset, std::uint64_t value, portable::SignalOp op) const;
  void put_with_signal(int dest_rank, std::size_t offset, const void* source, std::size_t bytes,
                       std::size_t signal_offset, std::uint64_t value,
                       portable::SignalOp op) const {
    put(dest_rank, offset, source, bytes);
    signal(dest_rank, signal_offset, value, op);
  }
  void fence() const {}
  void quiet() const;
  std::uint64_t signal_fetch(std::size_t offset) const;
  template <typename GiveUp>
  bool signal_wait_until(std::size_t offset, portable::Compare compare, std::uint64_t value,
                         GiveUp give_up) const {
    return portable::poll_signal_until(*this, offset, compare, value, give_up);
  }
  std::byte* local(std::size_t offset) const { return local_buffer + offset; }

  // The abort word holds (epoch << 32) | (2^32 − 1 − rank) of the latest pass in which a rank
  // raised abort (the lowest such rank of that pass wins): aborted(e) when that pass is ≥ e.
  bool aborted(std::uint32_t epoch) const { return abort_origin(epoch) >= 0; }
  // The lowest rank that raised abort in a pass ≥ epoch, or -1.
  int abort_origin(std::uint32_t epoch) const;
  // Marks every rank's abort word (own included) with this rank and the pass, so their waits
  // end with an error naming it instead of a timeout. Best effort towards dead peers: over a
  // network a flush to a process that died may itself fail, which is reported as an MPI error.
  void raise_abort(std::uint32_t epoch) const;
};

}  // namespace flashmoe::transport
