// What a pass on the GPU leaves for the host when it fails: the first participant that gave up
// waiting writes who it was and what it waited for, in host-mapped memory (nothing has to be
// copied back from a failed pass), which the host reads after the stream's passes or while they
// still run (published says when the record is whole). The host turns it into the same
// TimeoutError the CPU engine throws (runtime::timeout_message).
#pragma once

#include <cstdint>

#include "runtime/rank_state.hpp"
#include "runtime/subscriber.hpp"

namespace flashmoe::cuda {

struct FailureRecord {
  // 0 while nothing failed; the first participant to fail swaps in 1 and then writes the rest,
  // so the record is one failure's, never a mix of two.
  std::uint32_t claimed = 0;
  std::uint32_t epoch = 0;  // the pass that failed
  runtime::PassKind kind = runtime::PassKind::forward;
  std::int32_t rank = -1;
  std::int32_t block = -1;  // the block (participant) of that rank
  runtime::WaitDescription waited_for;
  // 1 once the fields above are written and fenced (system scope, release): the host reads a
  // record only then, so a record read while passes run is never a half-written one.
  std::uint32_t published = 0;
};

}  // namespace flashmoe::cuda
