// Atomics on plain memory words, the same on the host and the device, each with the narrowest
// scope that is correct for the word it touches:
//   Scope::group   words shared by the members of one worker group (a CPU thread group, a
//                  CUDA thread block);
//   Scope::rank    words of one rank's program, shared by its groups (a rank's private
//                  control words and queue; on a GPU: device scope, since a rank is a set of
//                  blocks);
//   Scope::system  words another agent reaches: the host↔program channel on a GPU, and the
//                  transports' signal words (only transports use it).
// On a GPU, rank and system words are always in global memory (the workspace, the symmetric
// buffers, host-mapped records; never shared memory or a thread's stack): the 64-bit adds rely
// on it (global_fetch_add_acq_rel below).
// libcu++'s cuda::atomic_ref implements them (thread_scope_block / _device / _system) when its
// headers exist (CMake defines FLASHMOE_HAVE_LIBCUDACXX; it is header-only and works in plain
// host code); otherwise C++20 std::atomic_ref, whose only scope is the whole process. The
// program keeps signals, counters and flags as ordinary integers inside its buffers and touches
// them only through these helpers, so the buffers stay trivially copyable and one layout
// indexes them on both targets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "flashmoe/macros.hpp"

#if defined(FLASHMOE_HAVE_LIBCUDACXX)
#include <cuda/atomic>
#else
#include <atomic>
#endif

namespace flashmoe::portable {

enum class Scope { group, rank, system };

#if defined(FLASHMOE_HAVE_LIBCUDACXX)
namespace atomics_detail {
template <Scope S>
inline constexpr cuda::thread_scope thread_scope_of =
    S == Scope::group  ? cuda::thread_scope_block
    : S == Scope::rank ? cuda::thread_scope_device
                       : cuda::thread_scope_system;
}  // namespace atomics_detail
template <typename T, Scope S>
using atomic_ref = cuda::atomic_ref<T, atomics_detail::thread_scope_of<S>>;
namespace order {
inline constexpr auto relaxed = cuda::std::memory_order_relaxed;
inline constexpr auto acquire = cuda::std::memory_order_acquire;
inline constexpr auto release = cuda::std::memory_order_release;
inline constexpr auto acq_rel = cuda::std::memory_order_acq_rel;
}  // namespace order
#else
template <typename T, Scope>
using atomic_ref = std::atomic_ref<T>;
namespace order {
inline constexpr auto relaxed = std::memory_order_relaxed;
inline constexpr auto acquire = std::memory_order_acquire;
inline constexpr auto release = std::memory_order_release;
inline constexpr auto acq_rel = std::memory_order_acq_rel;
}  // namespace order
#endif

template <Scope S, typename T>
FLASHMOE_HOST_DEVICE inline T load_acquire(T& word) {
  return atomic_ref<T, S>(word).load(order::acquire);
}
template <Scope S, typename T>
FLASHMOE_HOST_DEVICE inline T load_relaxed(T& word) {
  return atomic_ref<T, S>(word).load(order::relaxed);
}
template <Scope S, typename T>
FLASHMOE_HOST_DEVICE inline void store_release(T& word, T value) {
  atomic_ref<T, S>(word).store(value, order::release);
}
template <Scope S, typename T>
FLASHMOE_HOST_DEVICE inline void store_relaxed(T& word, T value) {
  atomic_ref<T, S>(word).store(value, order::relaxed);
}
#if defined(__CUDA_ARCH__)
namespace atomics_detail {
// A 64-bit add on a word known to be in global memory. Through a generic address (what
// cuda::atomic_ref has) ptxas must test at run time whether the word is in shared memory,
// where sm_80/sm_90 have no 64-bit atomic add, and emit a compare-and-swap loop for that case
// beside the global atomic: ~50 such pairs in the persistent kernel, and registers merged
// across them spilled to local memory. Rank and system words are always in global memory (the
// workspace, the symmetric buffers, host-mapped records), so the global form is exact there.
template <Scope S>
__device__ inline std::uint64_t global_fetch_add_acq_rel(std::uint64_t& word, std::uint64_t value) {
  static_assert(S != Scope::group, "group words may be in shared memory");
  std::uint64_t before;
  const std::size_t address = __cvta_generic_to_global(&word);
  if constexpr (S == Scope::rank)
    asm volatile("atom.acq_rel.gpu.global.add.u64 %0, [%1], %2;"
                 : "=l"(before)
                 : "l"(address), "l"(value)
                 : "memory");
  else
    asm volatile("atom.acq_rel.sys.global.add.u64 %0, [%1], %2;"
                 : "=l"(before)
                 : "l"(address), "l"(value)
                 : "memory");
  return before;
}
template <Scope S, typename T>
inline constexpr bool global_u64 =
    (S != Scope::group) && std::is_same_v<std::remove_cv_t<T>, std::uint64_t>;
}  // namespace atomics_detail
#endif

// Returns the value before the addition. acq_rel: the adder publishes its own writes and, when
// it is the last of a group of adders, sees everything the earlier adders published.
template <Scope S, typename T>
FLASHMOE_HOST_DEVICE inline T fetch_add_acq_rel(T& word, T value) {
#if defined(__CUDA_ARCH__)
  if constexpr (atomics_detail::global_u64<S, T>)
    return atomics_detail::global_fetch_add_acq_rel<S>(word, value);
  else
#endif
    return atomic_ref<T, S>(word).fetch_add(value, order::acq_rel);
}
// Unsigned subtraction is the addition of the value's two's complement (modulo 2^64).
template <Scope S, typename T>
FLASHMOE_HOST_DEVICE inline T fetch_sub_acq_rel(T& word, T value) {
#if defined(__CUDA_ARCH__)
  if constexpr (atomics_detail::global_u64<S, T>)
    return atomics_detail::global_fetch_add_acq_rel<S>(word, std::uint64_t{0} - value);
  else
#endif
    return atomic_ref<T, S>(word).fetch_sub(value, order::acq_rel);
}
template <Scope S, typename T>
FLASHMOE_HOST_DEVICE inline T fetch_max_acq_rel(T& word, T value) {
  atomic_ref<T, S> ref(word);
  T seen = ref.load(order::acquire);
  while (seen < value && !ref.compare_exchange_weak(seen, value, order::acq_rel, order::acquire)) {
  }
  return seen;
}
template <Scope S, typename T>
FLASHMOE_HOST_DEVICE inline T exchange_acq_rel(T& word, T value) {
  return atomic_ref<T, S>(word).exchange(value, order::acq_rel);
}
template <Scope S, typename T>
FLASHMOE_HOST_DEVICE inline bool compare_exchange_acq_rel(T& word, T& expected, T desired) {
  return atomic_ref<T, S>(word).compare_exchange_strong(expected, desired, order::acq_rel,
                                                        order::acquire);
}

}  // namespace flashmoe::portable
