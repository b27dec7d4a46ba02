// MpiWorld: the ranks of an MPI communicator and one symmetric buffer per rank. Under the RMA
// delivery the buffer is an MPI-3 RMA window (MPI_Win_allocate) kept in a passive-target access
// epoch to every rank (MPI_Win_lock_all) for the window's whole life, so puts and signals need
// no per-message synchronisation with the target; under the messages delivery (the default) it
// is ordinary memory that the process's communication thread writes, and no window exists, so
// any point-to-point network works (no one-sided component is needed, e.g. TCP with osc rdma).
//
// Buffer layout on every rank (identical, so a sender's offset is valid in the receiver's):
//   [0, bytes_per_rank)                 the caller's symmetric buffer, zero-filled at creation
//   [control_offset, control_offset+64) the transport's control block: the abort word
// control_offset = bytes_per_rank rounded up to 64 bytes; footprint = control_offset + 64.
//
// How puts and signals travel (mpi_transport.hpp): by default as batched two-sided messages
// (MpiMessenger), or as MPI-3 RMA operations on the window with FLASHMOE_MPI_DELIVERY=rma. Every
// rank must use the same delivery (checked at construction).
//
// Construction and destruction are collective over the communicator.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "transport/mpi/mpi_progress_thread.hpp"
#include "transport/mpi/mpi_transport.hpp"

namespace flashmoe::transport {

enum class MpiDelivery : int { messages = 0, rma = 1 };
const char* delivery_name(MpiDelivery delivery);
// FLASHMOE_MPI_DELIVERY: "messages" (also when unset or empty) or "rma"; anything else throws
// flashmoe::Error naming the allowed values.
MpiDelivery delivery_from_environment();

class MpiWorld {
 public:
  // Collective. Every rank must pass the same bytes_per_rank; ranks that disagree all throw
  // flashmoe::Error naming the ranks and sizes (before any window exists). Requires an
  // initialised MPI (MpiSession) and, under rma, the unified memory model (checked; the poll
  // argument in mpi_transport.hpp relies on it).
  // call_limit_s > 0 starts an MpiCallWatchdog with that limit (mpi_call_watchdog.hpp): a put or
  // signal towards a peer that has not returned after it ends the job. 0: no watchdog.
  // The RMA delivery starts an MpiProgressThread (every FLASHMOE_MPI_PROGRESS_US µs, default 50;
  // 0: none); the messages delivery an MpiMessenger, whose quiet() is watched by the watchdog
  // and bounded by 2 × call_limit_s (60 s without a watchdog).
  MpiWorld(MPI_Comm comm, std::size_t bytes_per_rank, double call_limit_s = 0.0,
           MpiDelivery delivery = delivery_from_environment());
  // Collective: unlock and free the window — skipped while an exception unwinds or after
  // abandon(), because a failed rank must not block in a collective on peers that stalled.
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  MpiTransport transport() const;
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  std::size_t bytes_per_rank() const { return bytes_per_rank_; }
  MpiDelivery delivery() const { return delivery_; }
  // Messages this rank sent under the messages delivery (0 under rma).
  std::uint64_t messages_sent() const { return messenger_ ? messenger_->messages_sent() : 0; }
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
  static constexpr double kDefaultQuietLimitS = 60.0;

  static constexpr std::size_t kControlBytes = 64;

 private:
  // The RMA delivery's window over window_bytes, zeroed, in its epoch; refuses the separate
  // memory model and misaligned memory.
  void create_window(std::size_t window_bytes);
  struct AlignedDelete {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{kControlBytes}); }
  };

  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Win window_ = MPI_WIN_NULL;
  std::byte* base_ = nullptr;
  int rank_ = 0;
  int world_size_ = 0;
  std::size_t bytes_per_rank_ = 0;
  std::size_t control_offset_ = 0;
  int uncaught_at_start_ = 0;
  bool abandoned_ = false;
  MpiDelivery delivery_ = MpiDelivery::messages;
  std::unique_ptr<MpiCallWatchdog> watchdog_;
  // Drives MPI's progress engine for peers' operations on this window (mpi_progress_thread.hpp);
  // declared after the watchdog, which watches its probes, so it is destroyed first.
  std::unique_ptr<MpiProgressThread> progress_;
  // The messages delivery's communication thread (null under rma); it writes into the window's
  // memory, so it stops before the window is freed.
  std::unique_ptr<MpiMessenger> messenger_;
  // The messages delivery's buffer (no window); freed after the destructor's body, which stops
  // the messenger that writes it.
  std::unique_ptr<std::byte[], AlignedDelete> plain_buffer_;
};

// Collective: throws flashmoe::Error on every rank when the ranks passed different values.
// `what` names the quantity in the message ("bytes_per_rank").
void check_same_size(MPI_Comm comm, std::size_t value, const char* what);

}  // namespace flashmoe::transport
