#include "engine_pool.hpp"

#include <utility>

namespace flashmoe::python {

void move_inputs(Problem& from, Problem& to) {
  to.wg = std::move(from.wg);
  to.ranks = std::move(from.ranks);
  from.ranks.clear();
  to.backward = from.backward;
  to.d_aux = from.d_aux;
  to.d_z = from.d_z;
}

EnginePool& EnginePool::instance() {
  // Never destroyed: a static pool's destructor would join engine threads during the
  // interpreter's teardown, after the modules it ran for are gone; process exit reclaims it.
  static EnginePool* pool = new EnginePool();
  return *pool;
}

EnginePool::Lease EnginePool::acquire(Problem& problem) {
  Lease lease;
  {
    const std::lock_guard lock(mutex_);
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if (it->anchor->config == problem.config && it->anchor->world_size == problem.world_size) {
        lease = std::move(*it);
        idle_.erase(it);
        break;
      }
    }
  }
  if (!lease.layer) {
    lease.anchor = std::make_unique<Problem>();
    lease.anchor->config = problem.config;
    lease.anchor->world_size = problem.world_size;
    move_inputs(problem, *lease.anchor);
    try {
      lease.layer = std::make_unique<engine::Layer>(*lease.anchor, engine::EngineOptions{});
    } catch (...) {
      move_inputs(*lease.anchor, problem);  // the caller keeps its inputs when the build fails
      throw;
    }
    return lease;
  }
  move_inputs(problem, *lease.anchor);
  return lease;
}

void EnginePool::release(Lease lease) {
  Lease dropped;  // destroyed outside the lock (joining a layer's threads takes a moment)
  const std::lock_guard lock(mutex_);
  idle_.push_front(std::move(lease));
  if (idle_.size() > kIdleLayers) {
    dropped = std::move(idle_.back());
    idle_.pop_back();
  }
}

std::size_t EnginePool::idle() const {
  const std::lock_guard lock(mutex_);
  return idle_.size();
}

}  // namespace flashmoe::python
