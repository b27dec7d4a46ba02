// Processor: executes one task of either pass on a worker group. The only switch over task
// kinds; each arm is one actor's function. Collective: every member of the group calls it with
// the same task, and it returns once the task (and the follow-ons its leader scheduled) is done.
#pragma once

#include "runtime/combine.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/expert_backward.hpp"
#include "runtime/expert_forward.hpp"
#include "runtime/gate.hpp"
#include "runtime/gate_backward.hpp"

namespace flashmoe::runtime {

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE inline void execute_task(const RankState<T, Transport>& s, const Group& g,
                                              Task task, const GroupScratch<T>& scratch) {
  switch (task.kind) {
    case TaskKind::gate_tile:
      run_gate_tile(s, g, task.tile);
      return;
    case TaskKind::route:
      run_route(s, g, scratch);
      return;
    case TaskKind::dispatch_tile:
      run_dispatch_tile(s, g, task.tile);
      return;
    case TaskKind::expert_up:
      run_expert_up(s, g, task);
      return;
    case TaskKind::expert_down:
      run_expert_down(s, g, task, scratch);
      return;
    case TaskKind::combine_tile:
      run_combine_tile(s, g, task.tile);
      return;
    case TaskKind::gate_gradient_tile:
      run_gate_gradient_tile(s, g, task.tile, scratch);
      return;
    case TaskKind::announce_gradients:
      run_announce_gradients(s, g);
      return;
    case TaskKind::expert_grad_hidden:
      run_expert_grad_hidden(s, g, task, scratch);
      return;
    case TaskKind::expert_grad_input:
      run_expert_grad_input(s, g, task, scratch);
      return;
    case TaskKind::weight_grad_down:
      run_weight_grad_down(s, g, task);
      return;
    case TaskKind::weight_grad_up:
      run_weight_grad_up(s, g, task);
      return;
    case TaskKind::gate_weight_grad:
      run_gate_weight_grad(s, g, task.column);
      return;
    case TaskKind::input_grad_tile:
      run_input_grad_tile(s, g, task.tile, scratch);
      return;
  }
}

}  // namespace flashmoe::runtime
