// MpiSession: MPI's lifetime in one process (one per process, created before any MpiWorld).
//
// Thread level: MPI_THREAD_MULTIPLE is required, and a library that provides less is refused
// with an error. The engine's actors are several worker threads per rank, and every one of them
// puts, signals and polls on its own; MULTIPLE lets each call MPI directly. The alternative — one
// communication thread per rank fed by a queue — would add a hop and a wake-up to every put and
// signal, and a second place where waits could hang, to support MPI builds without thread
// support, which current Open MPI (≥ 3.0), MPICH and their vendor derivatives all have.
//
// If MPI is already initialised (by mpi4py, torch.distributed or the application), the session
// adopts it — after checking its thread level — and leaves finalisation to whoever started it.
#pragma once

#include <mpi.h>

namespace flashmoe::transport {

class MpiSession {
 public:
  // Calls MPI_Init_thread(MPI_THREAD_MULTIPLE) unless MPI is initialised already; throws
  // flashmoe::Error when the provided thread level is lower. argc/argv may be null.
  MpiSession(int* argc, char*** argv);
  // MPI_Finalize when this session initialised MPI — except while an exception unwinds the
  // stack: finalising is collective, and a rank that failed must not block on peers that are
  // still waiting for it (the top-level helper ends the job with MPI_Abort instead).
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  // MPI_COMM_WORLD; an MpiWorld duplicates it so its collectives never mix with the caller's.
  MPI_Comm comm() const { return MPI_COMM_WORLD; }

 private:
  bool owns_mpi_ = false;
  int uncaught_at_start_ = 0;
  int rank_ = 0;
  int world_size_ = 1;
};

// Collective over comm: how many of its processes share this process's node (shared-memory
// domain). Per-process defaults that divide the node's cores use it, so that a job spread over
// several nodes does not divide one node's cores by the whole job's size.
int processes_on_this_node(MPI_Comm comm);

// The name of an MPI thread level ("MPI_THREAD_SERIALIZED", ...), for messages.
const char* thread_level_name(int level);

}  // namespace flashmoe::transport
