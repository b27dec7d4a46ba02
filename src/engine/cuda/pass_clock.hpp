// The GPU engine's pass counter, kept in device memory so that a pass needs nothing from the host
// at launch time: a tiny kernel (begin_pass_kernel, kernels.cu) numbers the pass on the device,
// just before the persistent kernel that runs it, on the same stream. A CUDA graph captured from
// those two launches therefore gives every replay a new epoch — with the epoch a kernel
// argument, a replay would reuse the captured one, and a peer's signal from the previous replay
// would pass for this one's. Plain host/device code: the numbering is unit-tested on the CPU.
#pragma once

#include <cstdint>

#include "flashmoe/macros.hpp"
#include "runtime/rank_state.hpp"

namespace flashmoe::cuda {

struct PassClock {
  runtime::PassDescriptor current;  // the latest pass begun (epoch 0: none yet)
  std::uint32_t forwards = 0;       // forwards begun
};

// Numbers the next pass, of kind `kind`, and makes it `clock.current`: epochs count every pass
// from 1; a forward is forward `forwards` (from 0), a backward belongs to the latest forward (its
// x rows are in that forward's parity of the double-buffered row buffers). The host refuses to
// enqueue a backward before any forward, so `forwards` is at least 1 for a backward.
FLASHMOE_HOST_DEVICE inline void begin_pass(PassClock& clock, runtime::PassKind kind) {
  const bool forward = kind == runtime::PassKind::forward;
  clock.current.epoch += 1;
  clock.current.kind = kind;
  clock.current.forward_index = forward ? clock.forwards++ : clock.forwards - 1;
}

}  // namespace flashmoe::cuda
