// Bounded waiting on the CPU: spin briefly (a peer's store is usually a few hundred cycles
// away), then yield the core (ranks and workers outnumber cores, and a spinning thread would
// starve the one it waits for), and measure elapsed time on the steady clock so every wait can
// end in a TimeoutError that names what was missing (DESIGN §6). Host code only (the CPU
// platform, the MPI transport, the host side of the engine); the device has its own clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

namespace flashmoe {

// Nanoseconds on the steady clock; the time base of progress stamps and deadlines.
inline std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One idle step of a polling loop: the first `spins_before_yield` calls spin, later ones yield.
class IdleBackoff {
 public:
  void pause() {
    if (spins_ < kSpinsBeforeYield) {
      ++spins_;
      return;
    }
    std::this_thread::yield();
  }
  void reset() { spins_ = 0; }

 private:
  static constexpr int kSpinsBeforeYield = 64;
  int spins_ = 0;
};

// A deadline measured from a progress stamp: expired when nothing happened for timeout_s.
class ProgressDeadline {
 public:
  explicit ProgressDeadline(double timeout_s)
      : timeout_ns_(static_cast<std::int64_t>(timeout_s * 1e9)) {}
  bool expired(std::int64_t last_progress_ns) const {
    return steady_now_ns() - last_progress_ns > timeout_ns_;
  }
  double seconds() const { return static_cast<double>(timeout_ns_) * 1e-9; }

 private:
  std::int64_t timeout_ns_;
};

}  // namespace flashmoe
