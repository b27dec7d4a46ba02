// LocalWorld: W ranks in one process. Every rank owns one symmetric buffer (the same size and
// the same layout on every rank, so an offset computed by the sender is valid in the receiver's
// buffer) and the ranks talk only through one-sided operations on those buffers:
//   put     — copy bytes into a peer's buffer at an offset (no reply, no handshake);
//   signal  — a release store or release add on a 64-bit word in a peer's buffer, ordered after
//             the puts that precede it;
//   poll    — an acquire load of a word in one's own buffer.
// TransportView is the trivially copyable handle the actors use; LocalWorld owns the memory.
// On the host a view may instead route its operations to ranks in other processes (`remote`,
// see remote_transport.hpp); then `buffers` holds only the own rank's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "flashmoe/macros.hpp"
#include "platform/cpu/atomics.hpp"
#include "transport/remote_transport.hpp"

namespace flashmoe::transport {

struct TransportView {
  std::byte* const* buffers = nullptr;  // [world_size] symmetric buffers
  int world_size = 0;
  std::uint32_t* abort_flag = nullptr;  // raised when any rank failed; everybody stops waiting
  // Host only: when set, put/signal/poll go to other processes through it, and aborted() also
  // reports an abort raised by any rank of the job. Never set for a device view.
  const RemoteTransport* remote = nullptr;

  FLASHMOE_HOST_DEVICE void put(int dest_rank, std::size_t offset, const void* source,
                                std::size_t bytes) const {
#if !defined(__CUDA_ARCH__)
    if (remote != nullptr) return remote->put(dest_rank, offset, source, bytes);
#endif
    std::memcpy(buffers[dest_rank] + offset, source, bytes);
  }
  // The word at `offset` of dest_rank's buffer becomes `value`; earlier puts by this thread are
  // visible to whoever reads the value with an acquire load.
  FLASHMOE_HOST_DEVICE void signal_store(int dest_rank, std::size_t offset,
                                         std::uint64_t value) const {
#if !defined(__CUDA_ARCH__)
    if (remote != nullptr) return remote->signal_store(dest_rank, offset, value);
#endif
    platform::store_release(word(dest_rank, offset), value);
  }
  FLASHMOE_HOST_DEVICE void signal_add(int dest_rank, std::size_t offset,
                                       std::uint64_t value) const {
#if !defined(__CUDA_ARCH__)
    if (remote != nullptr) return remote->signal_add(dest_rank, offset, value);
#endif
    platform::fetch_add_acq_rel(word(dest_rank, offset), value);
  }
  FLASHMOE_HOST_DEVICE std::uint64_t poll(int rank, std::size_t offset) const {
#if !defined(__CUDA_ARCH__)
    if (remote != nullptr) return remote->poll(offset);  // only the own rank is polled
#endif
    return platform::load_acquire(word(rank, offset));
  }
  FLASHMOE_HOST_DEVICE bool aborted() const {
    if (platform::load_acquire(*abort_flag) != 0) return true;
#if !defined(__CUDA_ARCH__)
    if (remote != nullptr) return remote->aborted();
#endif
    return false;
  }
  template <typename T>
  FLASHMOE_HOST_DEVICE T* at(int rank, std::size_t offset) const {
    return reinterpret_cast<T*>(buffers[rank] + offset);
  }

 private:
  FLASHMOE_HOST_DEVICE std::uint64_t& word(int rank, std::size_t offset) const {
    return *reinterpret_cast<std::uint64_t*>(buffers[rank] + offset);
  }
};

class LocalWorld {
 public:
  // Allocates world_size buffers of `bytes_per_rank` bytes, 64-byte aligned, zero-filled unless
  // zero_fill is false (then the owner clears what must start at zero; see in_process_layer).
  LocalWorld(int world_size, std::size_t bytes_per_rank, bool zero_fill = true);

  TransportView view() { return {pointers_.data(), world_size_, &abort_flag_}; }
  int world_size() const { return world_size_; }
  std::size_t bytes_per_rank() const { return bytes_per_rank_; }
  std::byte* buffer(int rank) { return pointers_[static_cast<std::size_t>(rank)]; }
  std::uint32_t& abort_flag() { return abort_flag_; }
  // Clears the abort flag; only between passes, when no worker runs.
  void clear_abort() { abort_flag_ = 0; }

 private:
  struct AlignedDelete {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{64}); }
  };
  int world_size_;
  std::size_t bytes_per_rank_;
  std::vector<std::unique_ptr<std::byte[], AlignedDelete>> storage_;
  std::vector<std::byte*> pointers_;
  std::uint32_t abort_flag_ = 0;
};

}  // namespace flashmoe::transport
