#include "transport/mpi/mpi_world.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>
#include <vector>

#include "flashmoe/error.hpp"
#include "transport/mpi/mpi_check.hpp"

namespace flashmoe::transport {

void check_same_size(MPI_Comm comm, std::size_t value, const char* what) {
  int rank = 0, world_size = 0;
  FLASHMOE_MPI(MPI_Comm_rank(comm, &rank));
  FLASHMOE_MPI(MPI_Comm_size(comm, &world_size));
  const std::uint64_t mine = value;
  std::vector<std::uint64_t> all(static_cast<std::size_t>(world_size));
  FLASHMOE_MPI(MPI_Allgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, comm));
  bool same = true;
  for (const std::uint64_t v : all) same = same && v == all[0];
  if (same) return;
  // Every rank holds the same gathered values, so every rank throws the same message.
  std::ostringstream sizes;
  for (int r = 0; r < world_size; ++r)
    sizes << (r == 0 ? "" : ", ") << "rank " << r << ": " << all[static_cast<std::size_t>(r)];
  FLASHMOE_FAIL("MPI transport: ranks disagree on ", what, " (", sizes.str(),
                "); every rank must pass the same value (seen on rank ", rank, ")");
}

const char* delivery_name(MpiDelivery delivery) {
  return delivery == MpiDelivery::rma ? "rma" : "messages";
}

MpiDelivery delivery_from_environment() {
  const char* text = std::getenv("FLASHMOE_MPI_DELIVERY");
  if (text == nullptr || *text == '\0' || std::strcmp(text, "messages") == 0)
    return MpiDelivery::messages;
  if (std::strcmp(text, "rma") == 0) return MpiDelivery::rma;
  FLASHMOE_FAIL("FLASHMOE_MPI_DELIVERY='", text,
                "': must be 'messages' (batched two-sided messages, the default) or 'rma' "
                "(MPI-3 one-sided operations on the window)");
}

MpiWorld::MpiWorld(MPI_Comm comm, std::size_t bytes_per_rank, double call_limit_s,
                   MpiDelivery delivery)
    : bytes_per_rank_(bytes_per_rank),
      uncaught_at_start_(std::uncaught_exceptions()),
      delivery_(delivery) {
  FLASHMOE_CHECK(call_limit_s >= 0.0, "MPI transport: call limit = ", call_limit_s,
                 " s, must be ≥ 0 (0: no watchdog)");
  // The watchdog first: the collectives below (and every later fence and the teardown) must not
  // block forever on a rank that died either.
  if (call_limit_s > 0.0) {
    int rank = 0, size = 0;
    FLASHMOE_MPI(MPI_Comm_rank(comm, &rank));
    FLASHMOE_MPI(MPI_Comm_size(comm, &size));
    watchdog_ = std::make_unique<MpiCallWatchdog>(rank, size, call_limit_s);
  }
  const MpiCallWatchdog::Watch watch(watchdog_.get(), "MPI_Win_allocate/MPI_Barrier of world_setup", -1);
  check_same_size(comm, bytes_per_rank, "bytes_per_rank (symmetric buffer size)");
  check_same_size(comm, static_cast<std::size_t>(delivery),
                  "FLASHMOE_MPI_DELIVERY (0: messages, 1: rma)");
  FLASHMOE_MPI(MPI_Comm_dup(comm, &comm_));
  FLASHMOE_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  FLASHMOE_MPI(MPI_Comm_rank(comm_, &rank_));
  FLASHMOE_MPI(MPI_Comm_size(comm_, &world_size_));
  control_offset_ = (bytes_per_rank + kControlBytes - 1) / kControlBytes * kControlBytes;
  const std::size_t window_bytes = control_offset_ + kControlBytes;

  if (delivery == MpiDelivery::messages) {
    // No window: peers never address this memory, the communication thread writes it. Zero it,
    // then let peers start (barrier), so no record lands before the memset.
    plain_buffer_.reset(static_cast<std::byte*>(
        ::operator new[](window_bytes, std::align_val_t{kControlBytes})));
    base_ = plain_buffer_.get();
    std::memset(base_, 0, window_bytes);
    FLASHMOE_MPI(MPI_Barrier(comm_));
    // With a watchdog, quiet's own limit lies beyond the watchdog's, which then ends the job
    // with its report (a peer that died never acknowledges; mpi_call_watchdog.hpp).
    messenger_ = std::make_unique<MpiMessenger>(
        comm_, base_, window_bytes, call_limit_s > 0.0 ? 2.0 * call_limit_s : kDefaultQuietLimitS,
        watchdog_.get());
    return;
  }
  create_window(window_bytes);
  // Last, so no probe runs during the set-up's collectives (mpi_progress_thread.hpp says why
  // passive-target RMA needs them).
  if (const int interval_us = MpiProgressThread::interval_from_environment(); interval_us > 0)
    progress_ = std::make_unique<MpiProgressThread>(comm_, interval_us, watchdog_.get());
}

void MpiWorld::create_window(std::size_t window_bytes) {
  // Hints that hold by construction: same size and displacement unit everywhere.
  MPI_Info info = MPI_INFO_NULL;
  FLASHMOE_MPI(MPI_Info_create(&info));
  FLASHMOE_MPI(MPI_Info_set(info, "same_size", "true"));
  FLASHMOE_MPI(MPI_Info_set(info, "same_disp_unit", "true"));
  void* base = nullptr;
  const int allocated =
      MPI_Win_allocate(static_cast<MPI_Aint>(window_bytes), 1, info, comm_, &base, &window_);
  MPI_Info_free(&info);
  FLASHMOE_MPI(allocated);
  base_ = static_cast<std::byte*>(base);
  FLASHMOE_MPI(MPI_Win_set_errhandler(window_, MPI_ERRORS_RETURN));

  int* model = nullptr;
  int has_model = 0;
  FLASHMOE_MPI(MPI_Win_get_attr(window_, MPI_WIN_MODEL, &model, &has_model));
  const bool unified = has_model != 0 && *model == MPI_WIN_UNIFIED;
  const bool aligned = reinterpret_cast<std::uintptr_t>(base_) % alignof(std::uint64_t) == 0;
  if (!unified || !aligned) {
    // Same outcome on every rank in practice (one MPI library, one osc component); free the
    // window collectively, then refuse.
    MPI_Win_free(&window_);
    MPI_Comm_free(&comm_);
    FLASHMOE_CHECK(unified,
                   "MPI transport: the RMA window uses the separate memory model; "
                   "polling signal words needs MPI_WIN_UNIFIED (choose another osc "
                   "component, e.g. --mca osc sm,rdma,ucx)");
    FLASHMOE_CHECK(aligned,
                   "MPI transport: MPI_Win_allocate returned memory that is not 8-byte "
                   "aligned; signal words would not be atomic");
  }

  // One passive-target epoch for the window's life. Zero the buffer inside it, publish the
  // zeros (Win_sync) and only then let peers start (barrier): no put can land before the memset.
  FLASHMOE_MPI(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_));
  std::memset(base_, 0, window_bytes);
  FLASHMOE_MPI(MPI_Win_sync(window_));
  FLASHMOE_MPI(MPI_Barrier(comm_));
}

MpiWorld::~MpiWorld() {
  // First, on every path: its probes use comm_, and no thread of ours may be inside MPI when
  // the window or the communicator goes, or when the session finalises.
  progress_.reset();
  const bool orderly = !abandoned_ && std::uncaught_exceptions() <= uncaught_at_start_;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (messenger_ != nullptr) {
    // Orderly: everything this rank sent is applied (quiet) and every rank got that far
    // (barrier) before any communication thread stops, so none stops while a peer still sends
    // to it. Otherwise the thread stops at once; the process is ending.
    if (orderly && finalized == 0) {
      try {
        messenger_->quiet();
        const MpiCallWatchdog::Watch watch(watchdog_.get(), "MPI_Barrier of messenger_teardown",
                                           -1);
        MPI_Barrier(comm_);
      } catch (const std::exception&) {
        messenger_->abandon();  // a destructor has no caller to tell; the peers' waits report
      }
    } else {
      messenger_->abandon();
    }
    messenger_.reset();
  }
  if (!orderly || finalized != 0) return;
  // No peer may still be signalling this rank when the window goes: unlock_all completes our
  // own operations, Win_free synchronises the ranks. Errors are ignored — a destructor has no
  // caller to tell.
  const MpiCallWatchdog::Watch watch(watchdog_.get(), "MPI_Win_free of window_teardown", -1);
  if (window_ != MPI_WIN_NULL) {
    MPI_Win_unlock_all(window_);
    MPI_Win_free(&window_);
  }
  MPI_Comm_free(&comm_);
}

MpiTransport MpiWorld::transport() const {
  return MpiTransport{window_,         base_,           rank_,          world_size_,
                      bytes_per_rank_, control_offset_, watchdog_.get(), messenger_.get()};
}

void MpiWorld::barrier() const {
  const MpiCallWatchdog::Watch watch(watchdog_.get(), "MPI_Barrier of barrier", -1);
  FLASHMOE_MPI(MPI_Barrier(comm_));
}

}  // namespace flashmoe::transport
