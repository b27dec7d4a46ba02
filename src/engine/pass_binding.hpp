// Results: how a submitted pass reaches the caller's tensors. bind_forward / bind_backward size
// the caller's outputs (reusing tensors whose shape already fits, so a loop allocates nothing
// after its first pass) and point a rank's PassBinding at its inputs and outputs;
// record_pass_seconds turns the participants' statistics into Results.seconds.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/pass_channel.hpp"
#include "flashmoe/problem.hpp"
#include "runtime/rank_state.hpp"
#include "runtime/task.hpp"

namespace flashmoe::engine {

// `tensor` with `type` and `shape`: kept when it has them, replaced (zero-filled) otherwise.
inline void ensure_shape(HostTensor& tensor, ElementType type, const Shape& shape) {
  if (!tensor.defined() || tensor.type() != type || tensor.shape() != shape)
    tensor = HostTensor(type, shape);
}

template <typename T>
void bind_inputs(runtime::PassBinding<T>& b, const Problem& inputs, int rank) {
  const RankInputs& in = inputs.ranks[static_cast<std::size_t>(rank)];
  b.tokens = in.x.dim(0);
  b.x = in.x.data<T>().data();
  b.wg = inputs.wg.data<T>().data();
  b.w1 = in.w1.data<T>().data();
  b.w2 = in.w2.data<T>().data();
  b.b1 = in.b1.defined() ? in.b1.data<T>().data() : nullptr;
  b.b2 = in.b2.defined() ? in.b2.data<T>().data() : nullptr;
  b.dout = in.dout.defined() ? in.dout.data<T>().data() : nullptr;
  b.d_aux = inputs.d_aux;
  b.d_z = inputs.d_z;
}

// A forward of rank `rank`: out and the routing record sized to its tokens.
template <typename T>
runtime::PassBinding<T> bind_forward(const Problem& inputs, RankOutputs& out, int rank,
                                     double* losses) {
  using Acc = runtime::accumulate_t<T>;
  const Config& c = inputs.config;
  const ElementType acc = element_type_of<Acc>();
  runtime::PassBinding<T> b;
  bind_inputs(b, inputs, rank);
  const std::int64_t S = b.tokens, H = c.hidden, k = c.top_k, E = c.experts;
  ensure_shape(out.out, acc, {S, H});
  ensure_shape(out.routing.topk_index, ElementType::i32, {S, k});
  ensure_shape(out.routing.topk_weight, acc, {S, k});
  ensure_shape(out.routing.kept, ElementType::u8, {S, k});
  out.routing.routed.resize(static_cast<std::size_t>(E));
  out.routing.accepted.resize(static_cast<std::size_t>(E));
  b.out = out.out.data<Acc>().data();
  b.topk_index = out.routing.topk_index.data<std::int32_t>().data();
  b.topk_weight = out.routing.topk_weight.data<Acc>().data();
  b.kept = out.routing.kept.data<std::uint8_t>().data();
  b.routed = out.routing.routed.data();
  b.accepted = out.routing.accepted.data();
  b.losses = losses;
  return b;
}

// A backward of rank `rank`: dx, dwg and the local experts' weight gradients.
template <typename T>
runtime::PassBinding<T> bind_backward(const Problem& inputs, RankOutputs& out, int rank) {
  using Acc = runtime::accumulate_t<T>;
  const Config& c = inputs.config;
  const ElementType acc = element_type_of<Acc>();
  runtime::PassBinding<T> b;
  bind_inputs(b, inputs, rank);
  const std::int64_t S = b.tokens, H = c.hidden, E = c.experts, P = c.ffn;
  const std::int64_t R = c.w1_rows(), L = c.local_experts(inputs.world_size);
  ensure_shape(out.dx, acc, {S, H});
  ensure_shape(out.dwg, acc, {E, H});
  ensure_shape(out.dw1, acc, {L, R, H});
  ensure_shape(out.dw2, acc, {L, H, P});
  if (c.bias) {
    ensure_shape(out.db1, acc, {L, R});
    ensure_shape(out.db2, acc, {L, H});
  }
  b.dx = out.dx.data<Acc>().data();
  b.dwg = out.dwg.data<Acc>().data();
  b.dw1 = out.dw1.data<Acc>().data();
  b.dw2 = out.dw2.data<Acc>().data();
  b.db1 = c.bias ? out.db1.data<Acc>().data() : nullptr;
  b.db2 = c.bias ? out.db2.data<Acc>().data() : nullptr;
  return b;
}

// The pass's wall time (first participant in to last one out, over the local ranks) and its
// per-stage sums into outputs.seconds under "forward" / "backward"; the trace events are
// appended to `events` when tracing.
template <typename T>
void record_pass_seconds(PassSlot<T>& slot, Results& outputs,
                         std::vector<platform::TraceEvent>* events) {
  const std::string prefix =
      slot.descriptor.kind == runtime::PassKind::forward ? "forward" : "backward";
  std::int64_t begin = 0, end = 0;
  for (const ParticipantStats& p : slot.participants) {
    if (p.begin_ns == 0) continue;
    begin = begin == 0 ? p.begin_ns : std::min(begin, p.begin_ns);
    end = std::max(end, p.end_ns);
  }
  outputs.seconds[prefix] += static_cast<double>(end - begin) * 1e-9;
  for (ParticipantStats& p : slot.participants) {
    for (int kind = 0; kind < runtime::kTaskKinds; ++kind) {
      const double seconds =
          p.stats.task_seconds.empty() ? 0.0 : p.stats.task_seconds[static_cast<std::size_t>(kind)];
      if (seconds > 0.0)
        outputs.seconds[prefix + "." + runtime::task_name(static_cast<runtime::TaskKind>(kind))] +=
            seconds;
    }
    outputs.seconds[prefix + ".subscriber"] += p.stats.subscriber_seconds;
    outputs.seconds[prefix + ".idle"] += p.stats.idle_seconds;
    if (events != nullptr)
      events->insert(events->end(), p.stats.events.begin(), p.stats.events.end());
  }
}

}  // namespace flashmoe::engine
