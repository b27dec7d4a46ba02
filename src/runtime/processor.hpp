// Processor: executes one task of either pass. The only switch over task kinds; each arm is one
// actor's function.
#pragma once

#include "runtime/combine.hpp"
#include "runtime/dispatch.hpp"
#include "runtime/expert_backward.hpp"
#include "runtime/expert_forward.hpp"
#include "runtime/gate.hpp"
#include "runtime/gate_backward.hpp"

namespace flashmoe::runtime {

template <typename T>
FLASHMOE_HOST_DEVICE inline void execute_task(const RankState<T>& s, const Task& task,
                                              const WorkerScratch<T>& scratch) {
  switch (task.kind) {
    case TaskKind::gate_tile:
      run_gate_tile(s, task.tile);
      return;
    case TaskKind::route:
      run_route(s);
      return;
    case TaskKind::dispatch_tile:
      run_dispatch_tile(s, task.tile);
      return;
    case TaskKind::expert_up:
      run_expert_up(s, task);
      return;
    case TaskKind::expert_down:
      run_expert_down(s, task, scratch);
      return;
    case TaskKind::combine_tile:
      run_combine_tile(s, task.tile);
      return;
    case TaskKind::gate_gradient_tile:
      run_gate_gradient_tile(s, task.tile, scratch);
      return;
    case TaskKind::announce_gradients:
      run_announce_gradients(s);
      return;
    case TaskKind::expert_grad_hidden:
      run_expert_grad_hidden(s, task, scratch);
      return;
    case TaskKind::expert_grad_input:
      run_expert_grad_input(s, task, scratch);
      return;
    case TaskKind::weight_grad_down:
      run_weight_grad_down(s, task);
      return;
    case TaskKind::weight_grad_up:
      run_weight_grad_up(s, task);
      return;
    case TaskKind::gate_weight_grad:
      run_gate_weight_grad(s, task.column);
      return;
    case TaskKind::input_grad_tile:
      run_input_grad_tile(s, task.tile, scratch);
      return;
  }
}

}  // namespace flashmoe::runtime
