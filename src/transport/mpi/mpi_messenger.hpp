// MpiMessenger: the MPI transport's "messages" delivery — puts and signals travel as records in
// two-sided MPI messages, one message per destination and batch, sent and received by ONE
// communication thread per process; the workers only append records and read their own memory.
//
// Why (measured, docs/benchmarks.md "Over shaped links"): over a network without hardware RMA
// (TCP; UCX's TCP transport) every MPI_Put and every MPI_Accumulate is an active message that
// the target applies when its MPI progress runs, and the RMA delivery's signal costs two flushes
// (round trips) besides. With one put per row, the engine lost 5–200× to a bulk MPI_Alltoallv.
// Here a batch of rows and the signal that publishes them are ONE message (the signal rides with
// the data: records are applied in order, and MPI does not let a message overtake an earlier one
// from the same thread on the same communicator and tag), and a rank polls its own signal words
// as plain atomics instead of entering MPI. This is the "one communication thread per process
// that performs all communication while the workers hand it requests" design.
//
// Semantics (portable/transport.hpp) and why they hold:
//  - put(dest, offset, src, bytes) copies src into dest's open batch under that batch's lock:
//    src is reusable on return. Records to one destination are applied there in the order they
//    were appended — batches are sealed in order, sent in order by the one thread, received in
//    order and applied in order by the destination's one thread.
//  - signal(dest, offset, value, op) appends a signal record and seals the batch: it is applied
//    (a release store / fetch_add on the word) only after every record appended before it to
//    that destination — by any thread of this process whose append happens-before this one —
//    has been applied. That is stronger than fence() + signal, so fence() is nothing.
//  - signal_fetch(offset) is an acquire load of the own word: the payload records applied before
//    the signal record (plain memcpy by the communication thread) are visible after it.
//  - puts and signals to the own rank are applied at once by the caller (no message).
//  - quiet(): seals every batch and waits (bounded, and watched by the call watchdog as a call
//    towards each peer) until every peer has acknowledged a ping appended after them, so
//    everything before quiet() has been applied at its destination.
//  - raise_abort: the abort record goes to every rank (own included, applied at once) as an
//    atomic maximum of the abort word; it never waits for a peer.
// A batch is also sealed when it reaches kSealBytes, so a large packet starts travelling before
// its signal is appended (the network works while the workers still copy rows).
//
// Failures: an MPI call of the communication thread that fails, or a record that would write
// outside the buffer, stops the thread and is reported by the next transport call of any worker
// (flashmoe::Error naming it). The thread's waits are bounded: it sleeps at most kMaxIdleUs
// between polls (condition variable: a sealed batch wakes it at once).
#pragma once

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "portable/transport.hpp"
#include "transport/mpi/mpi_call_watchdog.hpp"

namespace flashmoe::transport {

class MpiMessenger {
 public:
  static constexpr std::size_t kSealBytes = std::size_t{256} << 10;  // a batch travels at 256 KiB
  static constexpr int kMaxIdleUs = 50;  // longest sleep of the communication thread when idle

  // Starts the communication thread on `comm` (a communicator of the world's own, which no one
  // else receives on). `buffer` holds [0, buffer_bytes): the caller's symmetric buffer and the
  // transport's control block; records may write anywhere in it. quiet_limit_s bounds quiet().
  MpiMessenger(MPI_Comm comm, std::byte* buffer, std::size_t buffer_bytes, double quiet_limit_s,
               MpiCallWatchdog* watchdog);
  // Sends what is sealed, waits at most 2 s for it to leave (none after abandon()), stops and
  // joins the thread. Must run before `comm` is freed.
  ~MpiMessenger();
  // The job is failing: the destructor stops the thread without waiting for sends to leave.
  void abandon();
  MpiMessenger(const MpiMessenger&) = delete;
  MpiMessenger& operator=(const MpiMessenger&) = delete;

  void put(int dest, std::size_t offset, const void* source, std::size_t bytes);
  void signal(int dest, std::size_t offset, std::uint64_t value, portable::SignalOp op);
  // Atomic maximum of the word at `offset` on every rank (the abort word).
  void raise_max_everywhere(std::size_t offset, std::uint64_t value);
  void quiet();
  // Acquire load of a word of the own buffer; throws if the communication thread failed.
  std::uint64_t load_word(std::size_t offset) const;

  // Messages sent so far (tests: the rows ride with their signal).
  std::uint64_t messages_sent() const { return sent_.load(std::memory_order_relaxed); }

 private:
  struct Outbox {
    std::mutex mutex;
    std::vector<std::byte> open;  // records appended, not yet sealed
  };
  struct InFlight {
    MPI_Request request = MPI_REQUEST_NULL;
    std::vector<std::byte> batch;
  };

  void append(int dest, std::uint32_t kind, std::size_t offset, std::uint64_t value,
              const void* payload, std::size_t bytes, bool seal);
  void seal_locked(int dest, Outbox& box);  // box.mutex held
  void apply(const std::byte* records, std::size_t bytes, int source);
  void apply_one(std::uint32_t kind, std::size_t offset, std::uint64_t value,
                 const std::byte* payload, std::size_t bytes, int source);
  void run();
  bool send_sealed();
  bool complete_sends();
  bool receive_all();
  // Frees the requests of sends still in flight (MPI completes or drops them) and forgets them.
  void release_in_flight();
  void fail(const std::string& what);
  void throw_if_failed() const;

  const MPI_Comm comm_;
  std::byte* const buffer_;
  const std::size_t buffer_bytes_;
  const double quiet_limit_s_;
  MpiCallWatchdog* const watchdog_;
  int rank_ = 0, ranks_ = 0;

  std::vector<std::unique_ptr<Outbox>> outboxes_;  // [rank]; the own entry unused
  std::mutex sealed_mutex_;  // guards sealed_, free_batches_, stopping_, abandoned_
  std::condition_variable wake_;
  std::deque<std::pair<int, std::vector<std::byte>>> sealed_;  // in sealing order
  std::vector<std::vector<std::byte>> free_batches_;           // recycled capacity
  bool stopping_ = false;
  bool abandoned_ = false;

  // Communication-thread only.
  std::deque<InFlight> in_flight_;
  std::vector<std::byte> receive_buffer_;

  std::atomic<std::uint64_t> quiet_round_{0};
  std::unique_ptr<std::atomic<std::uint64_t>[]> acked_;  // [rank]: latest ping round acked

  std::atomic<bool> failed_{false};
  mutable std::mutex failure_mutex_;
  std::string failure_;

  std::atomic<std::uint64_t> sent_{0};
  std::thread thread_;
};

}  // namespace flashmoe::transport
