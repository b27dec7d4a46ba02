// Atomics on plain memory words, the same on the host and the device: libcu++'s
// cuda::atomic_ref with system scope when its headers exist (CMake defines
// FLASHMOE_HAVE_LIBCUDACXX), else C++20 std::atomic_ref. The engine keeps signals, counters and
// flags as ordinary integers inside its buffers and touches them only through these helpers, so
// the buffers stay trivially copyable and the same code indexes them on both targets.
#pragma once

#include <cstdint>

#include "flashmoe/macros.hpp"

#if defined(FLASHMOE_HAVE_LIBCUDACXX)
#include <cuda/atomic>
#else
#include <atomic>
#endif

namespace flashmoe::platform {

#if defined(FLASHMOE_HAVE_LIBCUDACXX)
template <typename T>
using atomic_ref = cuda::atomic_ref<T, cuda::thread_scope_system>;
namespace order {
inline constexpr auto relaxed = cuda::std::memory_order_relaxed;
inline constexpr auto acquire = cuda::std::memory_order_acquire;
inline constexpr auto release = cuda::std::memory_order_release;
inline constexpr auto acq_rel = cuda::std::memory_order_acq_rel;
}  // namespace order
#else
template <typename T>
using atomic_ref = std::atomic_ref<T>;
namespace order {
inline constexpr auto relaxed = std::memory_order_relaxed;
inline constexpr auto acquire = std::memory_order_acquire;
inline constexpr auto release = std::memory_order_release;
inline constexpr auto acq_rel = std::memory_order_acq_rel;
}  // namespace order
#endif

template <typename T>
FLASHMOE_HOST_DEVICE inline T load_acquire(T& word) {
  return atomic_ref<T>(word).load(order::acquire);
}
template <typename T>
FLASHMOE_HOST_DEVICE inline T load_relaxed(T& word) {
  return atomic_ref<T>(word).load(order::relaxed);
}
template <typename T>
FLASHMOE_HOST_DEVICE inline void store_release(T& word, T value) {
  atomic_ref<T>(word).store(value, order::release);
}
template <typename T>
FLASHMOE_HOST_DEVICE inline void store_relaxed(T& word, T value) {
  atomic_ref<T>(word).store(value, order::relaxed);
}
// Returns the value before the addition. acq_rel: the adder publishes its own writes and, when
// it is the last of a group, sees everything the earlier adders published.
template <typename T>
FLASHMOE_HOST_DEVICE inline T fetch_add_acq_rel(T& word, T value) {
  return atomic_ref<T>(word).fetch_add(value, order::acq_rel);
}
template <typename T>
FLASHMOE_HOST_DEVICE inline T fetch_sub_acq_rel(T& word, T value) {
  return atomic_ref<T>(word).fetch_sub(value, order::acq_rel);
}
template <typename T>
FLASHMOE_HOST_DEVICE inline T fetch_add_relaxed(T& word, T value) {
  return atomic_ref<T>(word).fetch_add(value, order::relaxed);
}
template <typename T>
FLASHMOE_HOST_DEVICE inline T exchange_acq_rel(T& word, T value) {
  return atomic_ref<T>(word).exchange(value, order::acq_rel);
}
template <typename T>
FLASHMOE_HOST_DEVICE inline bool compare_exchange_acq_rel(T& word, T& expected, T desired) {
  return atomic_ref<T>(word).compare_exchange_strong(expected, desired, order::acq_rel,
                                                     order::acquire);
}

}  // namespace flashmoe::platform
