// The CPU's worker group (portable/group.hpp): G OS threads that meet at a barrier, with a
// broadcast slot, standing in for a thread block. G = 1 is the production CPU setting (a group
// of one skips every barrier); G = 2, 4 run every rule of the group model in CI, under
// ThreadSanitizer too.
//
// The tile operations are collective, as on the GPU; on the CPU the leader runs the library
// kernel (oneDNN GEMM and eltwise, platform/cpu/gemm.hpp) on the whole tile while the other
// members wait — the kernel's blocking is then the same for every G, so the bits are too.
//
// Failure: a member that throws (a oneDNN error, a broken invariant) calls fail(); every other
// member's next sync() throws GroupAborted instead of waiting for a member that will never
// come, and every member then calls recover(), which returns once all have, leaving the group
// usable for the next pass. Nothing else a member does can block on the others.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>

#include "common/wait.hpp"
#include "platform/cpu/gemm.hpp"
#include "platform/cpu/tile_activation.hpp"
#include "platform/cpu/tile_gemm.hpp"
#include "portable/atomics.hpp"
#include "portable/tile_ops.hpp"

namespace flashmoe::cpu {

// Thrown by sync() in every member of a group one of whose members failed.
class GroupAborted : public std::exception {
 public:
  const char* what() const noexcept override { return "a member of this worker group failed"; }
};

class GroupShared {
 public:
  explicit GroupShared(int size) : size_(size) {}
  GroupShared(const GroupShared&) = delete;
  GroupShared& operator=(const GroupShared&) = delete;

  void arrive_and_wait() {
    std::unique_lock lock(mutex_);
    if (failed_) throw GroupAborted();
    const std::uint64_t generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
      return;
    }
    changed_.wait(lock, [&] { return generation_ != generation || failed_; });
    if (failed_) throw GroupAborted();
  }
  void fail() {
    const std::lock_guard lock(mutex_);
    failed_ = true;
    changed_.notify_all();
  }
  void recover() {
    std::unique_lock lock(mutex_);
    const std::uint64_t generation = generation_;
    if (++recovering_ == size_) {
      recovering_ = 0;
      arrived_ = 0;
      failed_ = false;
      ++generation_;
      changed_.notify_all();
      return;
    }
    changed_.wait(lock, [&] { return generation_ != generation; });
  }
  // The leader's broadcast value, copied in before a sync and out after it.
  static constexpr std::size_t kSlotBytes = 128;
  std::byte* slot() { return slot_; }

 private:
  const int size_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int arrived_ = 0, recovering_ = 0;
  std::uint64_t generation_ = 0;
  bool failed_ = false;
  alignas(64) std::byte slot_[kSlotBytes] = {};
};

// Where a group tells the host that a pass is over (publish()): the host waits on it with a
// bounded condition-variable wait instead of spinning.
struct PassCompletion {
  std::mutex mutex;
  std::condition_variable changed;
};

class ThreadGroup {
 public:
  ThreadGroup(GroupShared& shared, int rank, int size, PassCompletion& completion)
      : shared_(&shared), completion_(&completion), rank_(rank), size_(size) {}

  int size() const { return size_; }
  int rank() const { return rank_; }
  bool leader() const { return rank_ == 0; }
  void sync() const {
    if (size_ > 1) shared_->arrive_and_wait();
  }
  void fail() const { shared_->fail(); }
  void recover() const {
    if (size_ > 1) shared_->recover();
  }

  template <typename U>
  U broadcast(const U& value) const {
    static_assert(std::is_trivially_copyable_v<U> && sizeof(U) <= GroupShared::kSlotBytes);
    if (size_ == 1) return value;
    if (leader()) std::memcpy(shared_->slot(), &value, sizeof(U));
    sync();
    U out;
    std::memcpy(&out, shared_->slot(), sizeof(U));
    sync();  // the slot may be written again only after every member read it
    return out;
  }

  template <typename In, typename Out>
  void gemm(const portable::TileGemm<In, Out>& t) const {
    sync();
    if (leader() && t.m > 0 && t.n > 0) run_gemm(t);
    sync();
  }

  // The GEMM, then the activation over its output, by the leader: oneDNN has no epilogue that
  // keeps z and writes act(z) in another type, and the eltwise kernel is vectorised anyway.
  template <typename T, typename Acc>
  void gemm_activate(const portable::TileGemmActivation<T, Acc>& f) const {
    sync();
    if (leader() && f.gemm.m > 0 && f.gemm.n > 0) {
      run_gemm(f.gemm);
      activate_tile(portable::activation_of(f));
    }
    sync();
  }

  template <typename T, typename Acc>
  void activate_backward(const portable::TileActivationBackward<T, Acc>& a) const {
    sync();
    if (leader()) activate_tile_backward(a);
    sync();
  }

  std::int64_t now_ns() const { return steady_now_ns(); }
  // Polling back-off: a peer's store is usually a few hundred cycles away, so spin briefly;
  // then yield the core (ranks and workers outnumber cores, and a spinning thread would starve
  // the one it waits for).
  void idle(int attempt) const {
    if (attempt >= kSpinsBeforeYield) std::this_thread::yield();
  }
  // The pass-completion word the host waits for.
  void publish(std::uint64_t& word, std::uint64_t value) const {
    {
      const std::lock_guard lock(completion_->mutex);
      portable::store_release<portable::Scope::system>(word, value);
    }
    completion_->changed.notify_all();
  }

 private:
  template <typename In, typename Out>
  static void run_gemm(const portable::TileGemm<In, Out>& t) {
    GemmArgs args = platform::gemm_args(t.m, t.n, t.k, t.a, t.lda, t.trans_a, t.b, t.ldb,
                                        t.trans_b, t.c, t.ldc);
    args.accumulate = t.accumulate;
    args.bias = t.bias;
    cpu::gemm(args);
  }

  static constexpr int kSpinsBeforeYield = 64;
  GroupShared* shared_;
  PassCompletion* completion_;
  int rank_, size_;
};

}  // namespace flashmoe::cpu
