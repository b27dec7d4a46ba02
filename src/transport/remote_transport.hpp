// RemoteTransport: the host-only route by which a TransportView reaches ranks that live in other
// processes (the MPI transport implements it: MpiRemote in runtime/mpi_layer_world.cpp). The view
// keeps one code path for the actors: with no remote set (in-process ranks, the device build)
// its operations are plain loads, stores and atomics on the ranks' buffers; with one set, every
// put, signal and poll goes through it. A virtual call per operation is noise next to an MPI
// call, and the in-process path pays only a predictable branch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flashmoe::transport {

class RemoteTransport {
 public:
  virtual ~RemoteTransport() = default;
  // Same meaning as TransportView's operations (local_world.hpp); poll reads the own buffer.
  virtual void put(int dest_rank, std::size_t offset, const void* source,
                   std::size_t bytes) const = 0;
  virtual void signal_store(int dest_rank, std::size_t offset, std::uint64_t value) const = 0;
  virtual void signal_add(int dest_rank, std::size_t offset, std::uint64_t value) const = 0;
  virtual std::uint64_t poll(std::size_t offset) const = 0;
  // Some rank of the job raised abort.
  virtual bool aborted() const = 0;
};

}  // namespace flashmoe::transport
