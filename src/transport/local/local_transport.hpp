// The local transport: W ranks as threads of one process, each with its own symmetric buffer
// (the same size and layout on every rank). It implements portable/transport.hpp with plain
// memory operations:
//   put              memcpy into the peer's buffer (complete when it returns);
//   put_group        each member of the group memcpys one contiguous part of the row;
//   signal           a release store / release add on the peer's word, so everything that
//                    happened-before it (the sender's puts, and its group members' before a
//                    group sync) is visible to whoever reads the value with an acquire load;
//   put_with_signal  both, in that order;
//   fence, quiet     nothing left to order or complete (stronger than the contract, which the
//                    actors still honour for the GPU transports);
//   signal_fetch     an acquire load of the own word.
// The abort word is shared by all ranks of the process and holds the highest epoch in which a
// rank failed (0: none).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "flashmoe/macros.hpp"
#include "portable/atomics.hpp"
#include "portable/transport.hpp"

namespace flashmoe::transport {

class LocalTransport {
 public:
  LocalTransport() = default;
  LocalTransport(std::byte* const* buffers, int rank, int world_size, std::uint64_t* abort_word)
      : buffers_(buffers), abort_word_(abort_word), rank_(rank), world_size_(world_size) {}

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  void put(int dest, std::size_t offset, const void* source, std::size_t bytes) const {
    std::memcpy(buffers_[dest] + offset, source, bytes);
  }
  // Each member copies one contiguous part (portable::contiguous_part).
  template <typename G>
  void put_group(const G& g, int dest, std::size_t offset, const void* source,
                 std::size_t bytes) const {
    const portable::CopyPart part = portable::contiguous_part(bytes, g.rank(), g.size());
    if (part.end > part.begin)
      std::memcpy(buffers_[dest] + offset + part.begin,
                  static_cast<const std::byte*>(source) + part.begin, part.end - part.begin);
  }
  void signal(int dest, std::size_t offset, std::uint64_t value, portable::SignalOp op) const {
    std::uint64_t& word = *reinterpret_cast<std::uint64_t*>(buffers_[dest] + offset);
    if (op == portable::SignalOp::set)
      portable::store_release<portable::Scope::system>(word, value);
    else
      portable::fetch_add_acq_rel<portable::Scope::system>(word, value);
  }
  void put_with_signal(int dest, std::size_t offset, const void* source, std::size_t bytes,
                       std::size_t signal_offset, std::uint64_t value,
                       portable::SignalOp op) const {
    put(dest, offset, source, bytes);
    signal(dest, signal_offset, value, op);
  }
  void fence() const {}
  void quiet() const {}
  std::uint64_t signal_fetch(std::size_t offset) const {
    return portable::load_acquire<portable::Scope::system>(
        *reinterpret_cast<std::uint64_t*>(buffers_[rank_] + offset));
  }
  template <typename GiveUp>
  bool signal_wait_until(std::size_t offset, portable::Compare compare, std::uint64_t value,
                         GiveUp give_up) const {
    return portable::poll_signal_until(*this, offset, compare, value, give_up);
  }
  std::byte* local(std::size_t offset) const { return buffers_[rank_] + offset; }
  bool aborted(std::uint32_t epoch) const {
    return portable::load_acquire<portable::Scope::system>(*abort_word_) >= epoch;
  }
  void raise_abort(std::uint32_t epoch) const {
    portable::fetch_max_acq_rel<portable::Scope::system>(*abort_word_, std::uint64_t{epoch});
  }

 private:
  std::byte* const* buffers_ = nullptr;
  std::uint64_t* abort_word_ = nullptr;
  int rank_ = 0, world_size_ = 0;
};
static_assert(portable::Transport<LocalTransport>);

// Owns the W symmetric buffers (64-byte aligned) and the abort word of a world of in-process
// ranks; transport(r) is rank r's handle. The buffers are zero-filled unless zero_fill is false
// (then the owner clears what must start at zero: the engine leaves the large data regions
// untouched, since nothing reads them before a peer wrote them).
class LocalWorld {
 public:
  LocalWorld(int world_size, std::size_t bytes_per_rank, bool zero_fill = true);

  LocalTransport transport(int rank) { return {pointers_.data(), rank, world_size_, &abort_word_}; }
  int world_size() const { return world_size_; }
  std::size_t bytes_per_rank() const { return bytes_per_rank_; }
  std::byte* buffer(int rank) { return pointers_[static_cast<std::size_t>(rank)]; }

 private:
  struct AlignedDelete {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{64}); }
  };
  int world_size_;
  std::size_t bytes_per_rank_;
  std::vector<std::unique_ptr<std::byte[], AlignedDelete>> storage_;
  std::vector<std::byte*> pointers_;
  std::uint64_t abort_word_ = 0;
};

}  // namespace flashmoe::transport
