// MpiWorld: the ranks of an MPI communicator and one symmetric buffer per rank, allocated as an
// MPI-3 RMA window (MPI_Win_allocate) and kept in a passive-target access epoch to every rank
// (MPI_Win_lock_all) for the window's whole life, so puts and signals need no per-message
// synchronisation with the target (DESIGN §1: one-sided, never a handshake per message).
//
// Window layout on every rank (identical, so a sender's offset is valid in the receiver's):
//   [0, bytes_per_rank)                 the caller's symmetric buffer, zero-filled at creation
//   [control_offset, control_offset+64) the transport's control block: the abort word
// control_offset = bytes_per_rank rounded up to 64 bytes; footprint = control_offset + 64.
//
// Construction and destruction are collective over the communicator.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <memory>

#include "transport/mpi/mpi_progress_thread.hpp"
#include "transport/mpi/mpi_transport.hpp"

namespace flashmoe::transport {

class MpiWorld {
 public:
  // Collective. Every rank must pass the same bytes_per_rank; ranks that disagree all throw
  // flashmoe::Error naming the ranks and sizes (before any window exists). Requires an
  // initialised MPI (MpiSession) and the unified memory model (checked; the poll argument in
  // mpi_transport_view.hpp relies on it).
  // call_limit_s > 0 starts an MpiCallWatchdog with that limit (mpi_call_watchdog.hpp): a put or
  // signal towards a peer that has not returned after it ends the job. 0: no watchdog.
  // Starts an MpiProgressThread (every FLASHMOE_MPI_PROGRESS_US µs, default 50; 0: none).
  MpiWorld(MPI_Comm comm, std::size_t bytes_per_rank, double call_limit_s = 0.0);
  // Collective: unlock and free the window — skipped while an exception unwinds or after
  // abandon(), because a failed rank must not block in a collective on peers that stalled.
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  MpiTransport transport() const;
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  std::size_t bytes_per_rank() const { return bytes_per_rank_; }
  std::byte* local_buffer() const { return base_; }
  // The world's own communicator (a duplicate of the caller's): collectives on it never match
  // the caller's collectives by accident.
  MPI_Comm comm() const { return comm_; }

  // Collective barrier on the world's communicator (set-up and tests; the program's passes
  // need none: their words are epoch-tagged or only grow, docs/engine.md).
  void barrier() const;
  // After a failure this world is unusable; the destructor then releases nothing collectively
  // (the window leaks until the process ends, which the top-level helper makes immediate).
  void abandon() noexcept { abandoned_ = true; }

  static constexpr std::size_t kControlBytes = 64;

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Win window_ = MPI_WIN_NULL;
  std::byte* base_ = nullptr;
  int rank_ = 0;
  int world_size_ = 0;
  std::size_t bytes_per_rank_ = 0;
  std::size_t control_offset_ = 0;
  int uncaught_at_start_ = 0;
  bool abandoned_ = false;
  std::unique_ptr<MpiCallWatchdog> watchdog_;
  // Drives MPI's progress engine for peers' operations on this window (mpi_progress_thread.hpp);
  // declared after the watchdog, which watches its probes, so it is destroyed first.
  std::unique_ptr<MpiProgressThread> progress_;
};

// Collective: throws flashmoe::Error on every rank when the ranks passed different values.
// `what` names the quantity in the message ("bytes_per_rank").
void check_same_size(MPI_Comm comm, std::size_t value, const char* what);

}  // namespace flashmoe::transport
