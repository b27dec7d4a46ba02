// The one transport interface every actor of the program is written against, with NVSHMEM's
// semantics, so that the same actors run over threads of one process (transport/local), MPI
// processes (transport/mpi), ranks as partitions of one GPU, and NVSHMEM across GPUs.
//
// A transport is a small, trivially copyable value held by one rank. Every rank has a symmetric
// buffer of the same size and layout (so an offset computed by a sender is valid at the
// receiver); peers write into it only through these operations, and a rank reads only its own:
//
//   put(dest, offset, src, bytes)
//       copies bytes into dest's buffer at offset. The source may be reused as soon as put
//       returns; delivery at dest is guaranteed only after a later fence + signal, a
//       put_with_signal, or quiet (nvshmem_putmem).
//   put_group(g, dest, offset, src, bytes)
//       the same put issued by a whole worker group (nvshmemx_putmem_block): every member of g
//       calls it with the same arguments, and each copies the share the transport gives it —
//       on a GPU 16-byte words strided over the block's threads (coalesced, vectorised), on CPU
//       threads one contiguous part per member, over MPI the leader's one MPI_Put. For each
//       member its share is put when the call returns; the whole row is put once the group has
//       synchronised after the call. Delivery as for put. Use it for rows (x rows, returned
//       rows): a row put by one thread is a long serial copy on a GPU.
//   put_with_signal(dest, offset, src, bytes, signal_offset, value, op)
//       a put whose signal word at dest is updated (set or add) only after the data of THIS
//       put is delivered (nvshmem_putmem_signal). Earlier puts are not covered: fence first.
//   signal(dest, signal_offset, value, op)
//       sets or adds a 64-bit word of dest's buffer (nvshmemx_signal_op). Ordered after earlier
//       puts to dest only when a fence or quiet separates them.
//   fence()
//       every put and signal the calling rank issued before it (including those of other
//       threads of the rank that happen-before the call, e.g. the members of a group before a
//       group sync) is delivered to its destination before any it issues after it to the same
//       destination (nvshmem_fence).
//   quiet()
//       every put and signal issued before it has been delivered (nvshmem_quiet).
//   signal_fetch(offset)
//       the current value of a signal word of the OWN buffer, with acquire meaning: the data a
//       peer delivered before the signal that produced the value is visible to this rank's
//       loads afterwards (nvshmem_signal_fetch).
//   signal_wait_until(offset, compare, value, give_up)
//       polls that word until `word compare value` holds (true) or give_up() returns true
//       (false); every wait of the program is bounded, so give_up checks a deadline and the
//       abort word (nvshmem_signal_wait_until, bounded).
//   local(offset)
//       a pointer into the own buffer, for reading what peers delivered (after signal_fetch).
//   aborted(epoch) / raise_abort(epoch)
//       the world's abort word: some rank failed in pass `epoch` or later, so every rank in
//       such a pass stops waiting. Tagged with the pass, so an abort never leaks into a later
//       pass and needs no clearing.
//
// Scopes are the transport's own business: signal words are touched with the scope that
// reaches the peers (system across processes or GPUs, device scope for ranks inside one GPU);
// a rank's private words never go through a transport (portable/atomics.hpp, Scope::rank).
// The local and MPI transports deliver puts before returning from a later signal to the same
// destination even without a fence (stronger than required); the fences the actors place are
// what the GPU transports rely on.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "flashmoe/macros.hpp"

namespace flashmoe::portable {

enum class SignalOp : std::uint8_t { set, add };
enum class Compare : std::uint8_t { equal, greater_equal };

FLASHMOE_HOST_DEVICE inline bool compare_holds(std::uint64_t word, Compare compare,
                                               std::uint64_t value) {
  return compare == Compare::equal ? word == value : word >= value;
}

// signal_wait_until in terms of signal_fetch, for transports whose wait is a plain poll.
template <typename T, typename GiveUp>
FLASHMOE_HOST_DEVICE inline bool poll_signal_until(const T& transport, std::size_t offset,
                                                   Compare compare, std::uint64_t value,
                                                   GiveUp& give_up) {
  while (!compare_holds(transport.signal_fetch(offset), compare, value))
    if (give_up()) return false;
  return true;
}

// put_group for transports whose put is one call for the whole row (MPI): the leader puts it,
// the other members have nothing to copy.
template <typename T, typename G>
FLASHMOE_HOST_DEVICE inline void put_by_leader(const T& transport, const G& g, int dest,
                                               std::size_t offset, const void* source,
                                               std::size_t bytes) {
  if (g.leader()) transport.put(dest, offset, source, bytes);
}

// The part [begin, end) of a `bytes`-long copy that member `rank` of `size` takes when members
// copy contiguous parts: whole 64-byte lines each (so two members never write one line of an
// aligned row), the last member's part shorter or empty.
struct CopyPart {
  std::size_t begin = 0, end = 0;
};
FLASHMOE_HOST_DEVICE inline CopyPart contiguous_part(std::size_t bytes, int rank, int size) {
  constexpr std::size_t kLine = 64;
  const std::size_t lines = (bytes + kLine - 1) / kLine;
  const std::size_t per_member = (lines + static_cast<std::size_t>(size) - 1) /
                                 static_cast<std::size_t>(size) * kLine;
  const std::size_t begin = static_cast<std::size_t>(rank) * per_member;
  if (begin >= bytes) return {bytes, bytes};
  return {begin, begin + per_member < bytes ? begin + per_member : bytes};
}

namespace transport_detail {
struct NeverGiveUp {
  bool operator()() const { return false; }
};
}  // namespace transport_detail

template <typename X>
concept Transport = requires(const X& t, int dest, std::size_t offset, const void* source,
                             std::size_t bytes, std::uint64_t value, SignalOp op,
                             std::uint32_t epoch) {
  { t.rank() } -> std::same_as<int>;
  { t.world_size() } -> std::same_as<int>;
  t.put(dest, offset, source, bytes);
  t.put_with_signal(dest, offset, source, bytes, offset, value, op);
  t.signal(dest, offset, value, op);
  t.fence();
  t.quiet();
  { t.signal_fetch(offset) } -> std::same_as<std::uint64_t>;
  {
    t.signal_wait_until(offset, Compare::equal, value, transport_detail::NeverGiveUp{})
    } -> std::same_as<bool>;
  { t.local(offset) } -> std::same_as<std::byte*>;
  { t.aborted(epoch) } -> std::same_as<bool>;
  t.raise_abort(epoch);
};

}  // namespace flashmoe::portable
