#include "transport/mpi/mpi_messenger.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>

#include "common/wait.hpp"
#include "flashmoe/error.hpp"
#include "transport/mpi/mpi_check.hpp"

namespace flashmoe::transport {
namespace {

// The one tag the messenger sends on the world's communicator (the progress thread's probes use
// another, which nobody sends).
constexpr int kMessageTag = 0x5e1d;

enum RecordKind : std::uint32_t {
  kPut = 1,        // payload of `bytes` bytes to `offset`
  kSignalSet = 2,  // word at `offset` = value (release)
  kSignalAdd = 3,  // word at `offset` += value (release)
  kMax = 4,        // word at `offset` = max(word, value) (release)
  kPing = 5,       // answer with kAck carrying the same value
  kAck = 6,        // the sender has applied everything up to its ping `value`
};

// Every record: this header, then `bytes` payload bytes padded to 8, so headers stay aligned.
struct RecordHeader {
  std::uint32_t kind;
  std::uint32_t reserved;
  std::uint64_t offset;
  std::uint64_t value;
  std::uint64_t bytes;
};
static_assert(sizeof(RecordHeader) == 32);

constexpr std::size_t padded(std::size_t bytes) {
  return (bytes + 7) / 8 * 8;
}

// A put's payload travels in records of at most this much, so a batch's size fits MPI's int
// count whatever the caller puts.
constexpr std::size_t kMaxRecordPayload = std::size_t{64} << 20;

// How long the destructor lets the last sends leave (after an orderly teardown's quiet and
// barrier nothing is left; this bounds the other cases).
constexpr double kDrainLimitS = 2.0;
// Polls with a yield before the thread starts sleeping: a reply often comes within them.
constexpr int kSpinsBeforeSleep = 32;

std::uint64_t* word_at(std::byte* buffer, std::size_t offset) {
  return reinterpret_cast<std::uint64_t*>(buffer + offset);
}

// word = max(word, value), with release meaning when it raises it (std::atomic or atomic_ref).
template <typename AtomicWord>
void raise_to(AtomicWord& word, std::uint64_t value) {
  std::uint64_t seen = word.load(std::memory_order_relaxed);
  while (seen < value && !word.compare_exchange_weak(seen, value, std::memory_order_release,
                                                     std::memory_order_relaxed)) {
  }
}

void apply_signal(std::byte* buffer, std::uint32_t kind, std::size_t offset, std::uint64_t value) {
  std::atomic_ref<std::uint64_t> word(*word_at(buffer, offset));
  if (kind == kSignalSet)
    word.store(value, std::memory_order_release);
  else if (kind == kSignalAdd)
    word.fetch_add(value, std::memory_order_release);
  else
    raise_to(word, value);
}

}  // namespace

MpiMessenger::MpiMessenger(MPI_Comm comm, std::byte* buffer, std::size_t buffer_bytes,
                           double quiet_limit_s, MpiCallWatchdog* watchdog)
    : comm_(comm),
      buffer_(buffer),
      buffer_bytes_(buffer_bytes),
      quiet_limit_s_(quiet_limit_s),
      watchdog_(watchdog) {
  FLASHMOE_CHECK(quiet_limit_s > 0.0, "MPI messenger: quiet limit ", quiet_limit_s,
                 " s, must be > 0");
  FLASHMOE_MPI(MPI_Comm_rank(comm, &rank_));
  FLASHMOE_MPI(MPI_Comm_size(comm, &ranks_));
  outboxes_.reserve(static_cast<std::size_t>(ranks_));
  for (int r = 0; r < ranks_; ++r) outboxes_.push_back(std::make_unique<Outbox>());
  acked_ = std::make_unique<std::atomic<std::uint64_t>[]>(static_cast<std::size_t>(ranks_));
  for (int r = 0; r < ranks_; ++r) acked_[static_cast<std::size_t>(r)].store(0);
  thread_ = std::thread([this] { run(); });
}

MpiMessenger::~MpiMessenger() {
  {
    const std::lock_guard lock(sealed_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void MpiMessenger::abandon() {
  const std::lock_guard lock(sealed_mutex_);
  abandoned_ = true;
}

void MpiMessenger::throw_if_failed() const {
  if (!failed_.load(std::memory_order_acquire)) [[likely]]
    return;
  const std::lock_guard lock(failure_mutex_);
  FLASHMOE_FAIL("MPI transport (messages), rank ", rank_,
                ": the communication thread stopped: ", failure_);
}

void MpiMessenger::fail(const std::string& what) {
  {
    const std::lock_guard lock(failure_mutex_);
    if (failure_.empty()) failure_ = what;
  }
  failed_.store(true, std::memory_order_release);
}

void MpiMessenger::seal_locked(int dest, Outbox& box) {
  if (box.open.empty()) return;
  std::vector<std::byte> next;
  {
    const std::lock_guard lock(sealed_mutex_);
    if (!free_batches_.empty()) {
      next = std::move(free_batches_.back());
      free_batches_.pop_back();
    }
    sealed_.emplace_back(dest, std::move(box.open));
  }
  next.clear();
  box.open = std::move(next);
  wake_.notify_one();
}

void MpiMessenger::append(int dest, std::uint32_t kind, std::size_t offset, std::uint64_t value,
                          const void* payload, std::size_t bytes, bool seal) {
  throw_if_failed();
  Outbox& box = *outboxes_[static_cast<std::size_t>(dest)];
  const std::lock_guard lock(box.mutex);
  const RecordHeader header{kind, 0, offset, value, bytes};
  const std::size_t at = box.open.size();
  box.open.resize(at + sizeof(header) + padded(bytes));
  std::memcpy(box.open.data() + at, &header, sizeof(header));
  if (bytes > 0) std::memcpy(box.open.data() + at + sizeof(header), payload, bytes);
  if (seal || box.open.size() >= kSealBytes) seal_locked(dest, box);
}

void MpiMessenger::put(int dest, std::size_t offset, const void* source, std::size_t bytes) {
  if (dest == rank_) {
    throw_if_failed();
    if (bytes > 0) std::memcpy(buffer_ + offset, source, bytes);
    return;
  }
  const auto* from = static_cast<const std::byte*>(source);
  for (std::size_t done = 0; done < bytes;) {
    const std::size_t piece = std::min(bytes - done, kMaxRecordPayload);
    append(dest, kPut, offset + done, 0, from + done, piece, false);
    done += piece;
  }
}

void MpiMessenger::signal(int dest, std::size_t offset, std::uint64_t value,
                          portable::SignalOp op) {
  const std::uint32_t kind = op == portable::SignalOp::set ? kSignalSet : kSignalAdd;
  if (dest == rank_) {
    throw_if_failed();
    apply_signal(buffer_, kind, offset, value);
    return;
  }
  append(dest, kind, offset, value, nullptr, 0, true);
}

void MpiMessenger::raise_max_everywhere(std::size_t offset, std::uint64_t value) {
  apply_signal(buffer_, kMax, offset, value);
  if (failed_.load(std::memory_order_acquire)) return;  // best effort: the thread is gone
  for (int r = 0; r < ranks_; ++r)
    if (r != rank_) append(r, kMax, offset, value, nullptr, 0, true);
}

void MpiMessenger::quiet() {
  const std::uint64_t round = quiet_round_.fetch_add(1, std::memory_order_relaxed) + 1;
  for (int r = 0; r < ranks_; ++r)
    if (r != rank_) append(r, kPing, 0, round, nullptr, 0, true);
  const ProgressDeadline deadline(quiet_limit_s_);
  const std::int64_t start_ns = steady_now_ns();
  for (int r = 0; r < ranks_; ++r) {
    if (r == rank_) continue;
    // Watched like a blocking call towards r: a peer that died never acknowledges, and the
    // watchdog then ends the job as it does for a call that never returns (the world gives the
    // quiet limit beyond the watchdog's, so the watchdog speaks first).
    const MpiCallWatchdog::Watch watch(watchdog_, "MPI_Isend/MPI_Improbe of messenger_quiet", r);
    while (acked_[static_cast<std::size_t>(r)].load(std::memory_order_acquire) < round) {
      throw_if_failed();
      if (deadline.expired(start_ns))
        throw TimeoutError(
            detail::concat("MPI transport (messages), rank ", rank_, ": quiet() timed out after ",
                           quiet_limit_s_, " s waiting for rank ", r,
                           " to acknowledge what this rank sent it (is rank ", r, " alive?)"));
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
}

std::uint64_t MpiMessenger::load_word(std::size_t offset) const {
  throw_if_failed();
  return std::atomic_ref<std::uint64_t>(*word_at(buffer_, offset)).load(std::memory_order_acquire);
}

void MpiMessenger::apply_one(std::uint32_t kind, std::size_t offset, std::uint64_t value,
                             const std::byte* payload, std::size_t bytes, int source) {
  const std::size_t extent = kind == kPut ? bytes : sizeof(std::uint64_t);
  const bool word_kind = kind == kSignalSet || kind == kSignalAdd || kind == kMax;
  if (word_kind || kind == kPut) {
    // A record outside the buffer or a misaligned word is a broken invariant of the sender
    // (its transport checks offsets before appending): refuse it, never write past the end.
    FLASHMOE_CHECK(offset <= buffer_bytes_ && extent <= buffer_bytes_ - offset &&
                       (!word_kind || offset % sizeof(std::uint64_t) == 0),
                   "a record from rank ", source, " addresses [", offset, ", ", offset + extent,
                   ") of the ", buffer_bytes_, "-byte buffer");
  }
  switch (kind) {
    case kPut:
      std::memcpy(buffer_ + offset, payload, bytes);
      break;
    case kSignalSet:
    case kSignalAdd:
    case kMax:
      apply_signal(buffer_, kind, offset, value);
      break;
    case kPing:
      append(source, kAck, 0, value, nullptr, 0, true);
      break;
    case kAck:
      raise_to(acked_[static_cast<std::size_t>(source)], value);
      break;
    default:
      FLASHMOE_FAIL("a record of unknown kind ", kind, " from rank ", source);
  }
}

void MpiMessenger::apply(const std::byte* records, std::size_t bytes, int source) {
  for (std::size_t at = 0; at < bytes;) {
    FLASHMOE_CHECK(bytes - at >= sizeof(RecordHeader), "a message from rank ", source,
                   " ends inside a record header (", bytes - at, " bytes left)");
    RecordHeader header;
    std::memcpy(&header, records + at, sizeof(header));
    at += sizeof(header);
    FLASHMOE_CHECK(header.bytes <= bytes - at, "a record from rank ", source, " claims ",
                   header.bytes, " payload bytes, the message holds ", bytes - at, " more");
    apply_one(header.kind, header.offset, header.value, records + at, header.bytes, source);
    at += padded(header.bytes);
  }
}

bool MpiMessenger::send_sealed() {
  std::deque<std::pair<int, std::vector<std::byte>>> ready;
  {
    const std::lock_guard lock(sealed_mutex_);
    ready.swap(sealed_);
  }
  for (auto& [dest, batch] : ready) {
    InFlight& sending = in_flight_.emplace_back();
    sending.batch = std::move(batch);
    const MpiCallWatchdog::Watch watch(watchdog_, "MPI_Isend of the messenger", dest);
    FLASHMOE_MPI(MPI_Isend(sending.batch.data(), static_cast<int>(sending.batch.size()), MPI_BYTE,
                           dest, kMessageTag, comm_, &sending.request));
    sent_.fetch_add(1, std::memory_order_relaxed);
  }
  return !ready.empty();
}

bool MpiMessenger::complete_sends() {
  bool any = false;
  // Sends to one destination complete in order in practice; test every one anyway, and give a
  // completed batch's capacity back for reuse.
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    int done = 0;
    {
      const MpiCallWatchdog::Watch watch(watchdog_, "MPI_Test of the messenger", -1);
      FLASHMOE_MPI(MPI_Test(&it->request, &done, MPI_STATUS_IGNORE));
    }
    if (done == 0) {
      ++it;
      continue;
    }
    {
      const std::lock_guard lock(sealed_mutex_);
      if (free_batches_.size() < 16) free_batches_.push_back(std::move(it->batch));
    }
    it = in_flight_.erase(it);
    any = true;
  }
  return any;
}

bool MpiMessenger::receive_all() {
  bool any = false;
  for (;;) {
    int found = 0;
    MPI_Message message = MPI_MESSAGE_NULL;
    MPI_Status status;
    {
      const MpiCallWatchdog::Watch watch(watchdog_, "MPI_Improbe of the messenger", -1);
      FLASHMOE_MPI(MPI_Improbe(MPI_ANY_SOURCE, kMessageTag, comm_, &found, &message, &status));
    }
    if (found == 0) return any;
    int count = 0;
    FLASHMOE_MPI(MPI_Get_count(&status, MPI_BYTE, &count));
    receive_buffer_.resize(static_cast<std::size_t>(count));
    {
      const MpiCallWatchdog::Watch watch(watchdog_, "MPI_Mrecv of the messenger",
                                         status.MPI_SOURCE);
      FLASHMOE_MPI(MPI_Mrecv(receive_buffer_.data(), count, MPI_BYTE, &message, MPI_STATUS_IGNORE));
    }
    apply(receive_buffer_.data(), receive_buffer_.size(), status.MPI_SOURCE);
    any = true;
  }
}

void MpiMessenger::release_in_flight() {
  for (InFlight& sending : in_flight_)
    if (sending.request != MPI_REQUEST_NULL) MPI_Request_free(&sending.request);
  in_flight_.clear();
}

void MpiMessenger::run() {
  int spins = 0, idle_us = 0;
  const ProgressDeadline drain_deadline(kDrainLimitS);
  std::int64_t drain_start_ns = 0;  // when stopping was first seen
  for (;;) {
    bool active = false;
    try {
      active = send_sealed();
      active = complete_sends() || active;
      active = receive_all() || active;
    } catch (const std::exception& error) {
      fail(error.what());
      release_in_flight();  // the job is failing: what is in flight is left to MPI
      return;
    }
    std::unique_lock lock(sealed_mutex_);
    if (stopping_) {
      if (drain_start_ns == 0) drain_start_ns = steady_now_ns();
      const bool drained = abandoned_ || (sealed_.empty() && in_flight_.empty());
      if (drained || drain_deadline.expired(drain_start_ns)) {
        lock.unlock();
        release_in_flight();
        return;
      }
    }
    if (active || !sealed_.empty()) {
      spins = 0;
      idle_us = 0;
      continue;
    }
    if (spins < kSpinsBeforeSleep) {
      ++spins;
      lock.unlock();
      std::this_thread::yield();
      continue;
    }
    idle_us = idle_us == 0 ? 1 : std::min(idle_us * 2, kMaxIdleUs);
    wake_.wait_for(lock, std::chrono::microseconds(idle_us));
  }
}

}  // namespace flashmoe::transport
