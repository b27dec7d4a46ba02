#include "runtime/task.hpp"

namespace flashmoe::runtime {

const char* task_name(TaskKind kind) {
  switch (kind) {
    case TaskKind::gate_tile:
      return "gate";
    case TaskKind::route:
      return "route";
    case TaskKind::dispatch_tile:
      return "dispatch";
    case TaskKind::expert_up:
      return "expert_up";
    case TaskKind::expert_down:
      return "expert_down";
    case TaskKind::combine_tile:
      return "combine";
    case TaskKind::gate_gradient_tile:
      return "gate_gradient";
    case TaskKind::announce_gradients:
      return "announce_gradients";
    case TaskKind::expert_grad_hidden:
      return "expert_grad_hidden";
    case TaskKind::expert_grad_input:
      return "expert_grad_input";
    case TaskKind::weight_grad_down:
      return "weight_grad_down";
    case TaskKind::weight_grad_up:
      return "weight_grad_up";
    case TaskKind::gate_weight_grad:
      return "gate_weight_grad";
    case TaskKind::input_grad_tile:
      return "input_grad";
  }
  return "unknown";
}

}  // namespace flashmoe::runtime
