// LayerWorld: what the engine's host side (the layer in in_process_layer.cpp) needs from the
// world its ranks live in. The layer's per-rank set-up, pass preparation, worker launch and
// result collection are written once against it; the world decides which ranks this process
// drives and how passes are separated:
//   - in-process (LocalLayerWorld below): every rank, as threads; the join of all workers is
//     the fence between passes;
//   - MPI (runtime/mpi_layer_world.hpp): this process's rank only; passes are separated by
//     MpiWorld::pass_fence, and a failure is raised on every rank's abort word.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "transport/local/local_world.hpp"

namespace flashmoe::runtime {

class LayerWorld {
 public:
  virtual ~LayerWorld() = default;
  virtual int world_size() const = 0;
  // The ranks whose workers run in this process, ascending.
  virtual const std::vector<int>& local_ranks() const = 0;
  // How many ranks of the job share this node's cores (every local rank, plus other processes'
  // ranks on the same node): the engine's default workers per rank divide the cores by it.
  virtual int ranks_on_this_node() const = 0;
  // The symmetric buffer of a local rank.
  virtual std::byte* buffer(int rank) = 0;
  // The handle rank `rank`'s actors use.
  virtual transport::TransportView view(int rank) = 0;
  // The flag this process's workers raise when one of them fails (they all stop on it).
  virtual std::uint32_t& abort_flag() = 0;
  // Before the local ranks' per-pass state is reset: clears the previous pass's abort.
  virtual void begin_pass() = 0;
  // After the reset, before any worker starts: peers may touch the reset state only after it.
  virtual void fence_after_reset() = 0;
  // A local worker failed: make every rank of the job stop waiting.
  virtual void raise_abort() = 0;
  // After the workers joined without a local error: throws if another rank failed (its workers
  // left the loop because of an abort raised elsewhere, so this pass's results are incomplete).
  virtual void check_pass_complete() = 0;
};

// Builds the world once the layer knows its symmetric buffer size (the same on every rank).
using LayerWorldFactory = std::function<std::unique_ptr<LayerWorld>(std::size_t symmetric_bytes)>;

// Every rank in this process (LocalWorld). Buffers are not zero-filled: the layer clears what
// must start at zero.
class LocalLayerWorld final : public LayerWorld {
 public:
  LocalLayerWorld(int world_size, std::size_t symmetric_bytes)
      : world_(world_size, symmetric_bytes, /*zero_fill=*/false) {
    for (int r = 0; r < world_size; ++r) ranks_.push_back(r);
  }
  int world_size() const override { return world_.world_size(); }
  const std::vector<int>& local_ranks() const override { return ranks_; }
  int ranks_on_this_node() const override { return world_.world_size(); }
  std::byte* buffer(int rank) override { return world_.buffer(rank); }
  transport::TransportView view(int /*rank*/) override { return world_.view(); }
  std::uint32_t& abort_flag() override { return world_.abort_flag(); }
  void begin_pass() override { world_.clear_abort(); }
  // The previous pass's workers all joined; nothing runs concurrently with the reset.
  void fence_after_reset() override {}
  // The abort flag run_worker_threads raises is the world's own.
  void raise_abort() override {}
  void check_pass_complete() override {}

 private:
  transport::LocalWorld world_;
  std::vector<int> ranks_;
};

}  // namespace flashmoe::runtime
