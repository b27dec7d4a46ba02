// Ranks as partitions of one GPU (portable/transport.hpp): every rank's symmetric buffer lives
// in the same device memory, so a put is a store by the calling thread and a signal a
// device-scope release store / add; fence and quiet are device-scope fences. The GPU twin of
// the local transport (ranks as threads), so one GPU can run the whole multi-rank protocol.
// A put by one thread copies 16-byte words when source, destination and size allow it; a
// put_group spreads the words over the block's threads (member r copies words r, r + G, ...), so
// a row is one coalesced, vectorised copy by the whole block.
#pragma once

#include <cstddef>
#include <cstdint>

#include "flashmoe/macros.hpp"
#include "portable/atomics.hpp"
#include "portable/transport.hpp"

namespace flashmoe::transport {

class PartitionTransport {
 public:
  PartitionTransport() = default;
  FLASHMOE_HOST_DEVICE PartitionTransport(std::byte* const* buffers, int rank, int world_size,
                                          std::uint64_t* abort_word)
      : buffers_(buffers), abort_word_(abort_word), rank_(rank), world_size_(world_size) {}

  __device__ int rank() const { return rank_; }
  __device__ int world_size() const { return world_size_; }
  __device__ void put(int dest, std::size_t offset, const void* source, std::size_t bytes) const {
    copy_strided(buffers_[dest] + offset, static_cast<const std::byte*>(source), bytes, 0, 1);
  }
  template <typename G>
  __device__ void put_group(const G& g, int dest, std::size_t offset, const void* source,
                            std::size_t bytes) const {
    copy_strided(buffers_[dest] + offset, static_cast<const std::byte*>(source), bytes,
                 static_cast<std::size_t>(g.rank()), static_cast<std::size_t>(g.size()));
  }
  __device__ void signal(int dest, std::size_t offset, std::uint64_t value,
                         portable::SignalOp op) const {
    std::uint64_t& word = *reinterpret_cast<std::uint64_t*>(buffers_[dest] + offset);
    if (op == portable::SignalOp::set)
      portable::store_release<portable::Scope::rank>(word, value);
    else
      portable::fetch_add_acq_rel<portable::Scope::rank>(word, value);
  }
  __device__ void put_with_signal(int dest, std::size_t offset, const void* source,
                                  std::size_t bytes, std::size_t signal_offset, std::uint64_t value,
                                  portable::SignalOp op) const {
    put(dest, offset, source, bytes);
    __threadfence();
    signal(dest, signal_offset, value, op);
  }
  __device__ void fence() const { __threadfence(); }
  __device__ void quiet() const { __threadfence(); }
  __device__ std::uint64_t signal_fetch(std::size_t offset) const {
    return portable::load_acquire<portable::Scope::rank>(
        *reinterpret_cast<std::uint64_t*>(buffers_[rank_] + offset));
  }
  template <typename GiveUp>
  __device__ bool signal_wait_until(std::size_t offset, portable::Compare compare,
                                    std::uint64_t value, GiveUp give_up) const {
    return portable::poll_signal_until(*this, offset, compare, value, give_up);
  }
  __device__ std::byte* local(std::size_t offset) const { return buffers_[rank_] + offset; }
  __device__ bool aborted(std::uint32_t epoch) const {
    return portable::load_acquire<portable::Scope::system>(*abort_word_) >= epoch;
  }
  __device__ void raise_abort(std::uint32_t epoch) const {
    portable::fetch_max_acq_rel<portable::Scope::system>(*abort_word_, std::uint64_t{epoch});
  }

 private:
  // Copies words first, first + stride, ... of the widest word size (16, 8, 4 or 1 bytes) that
  // divides both addresses and the size.
  __device__ static void copy_strided(std::byte* to, const std::byte* from, std::size_t bytes,
                                      std::size_t first, std::size_t stride) {
    const auto alignment = reinterpret_cast<std::uintptr_t>(to) |
                           reinterpret_cast<std::uintptr_t>(from) | bytes;
    if (alignment % 16 == 0) {
      copy_words<uint4>(to, from, bytes / 16, first, stride);
    } else if (alignment % 8 == 0) {
      copy_words<std::uint64_t>(to, from, bytes / 8, first, stride);
    } else if (alignment % 4 == 0) {
      copy_words<std::uint32_t>(to, from, bytes / 4, first, stride);
    } else {
      copy_words<std::byte>(to, from, bytes, first, stride);
    }
  }
  template <typename Word>
  __device__ static void copy_words(std::byte* to, const std::byte* from, std::size_t words,
                                    std::size_t first, std::size_t stride) {
    auto* dst = reinterpret_cast<Word*>(to);
    const auto* src = reinterpret_cast<const Word*>(from);
    for (std::size_t i = first; i < words; i += stride) dst[i] = src[i];
  }

  std::byte* const* buffers_ = nullptr;
  std::uint64_t* abort_word_ = nullptr;  // host-mapped: the host reads it too
  int rank_ = 0, world_size_ = 0;
};

}  // namespace flashmoe::transport
