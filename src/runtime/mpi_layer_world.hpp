// The engine over MPI: this process drives one rank of an MPI job (ranks as processes), its
// symmetric buffer an RMA window of an MpiWorld, its actors' put/signal/poll routed to MPI
// through the view's RemoteTransport hook (transport/remote_transport.hpp). The layer's logic
// is the in-process one (in_process_layer.cpp); only the world differs (layer_world.hpp).
#pragma once

#include <mpi.h>

#include "flashmoe/problem.hpp"
#include "runtime/engine.hpp"
#include "runtime/layer_world.hpp"

namespace flashmoe::engine {

// The world of one MPI rank: collective to create (over comm, after check_same_config), and
// every call of begin_pass / fence_after_reset is collective too, which the layer's passes make
// in the same order on every rank.
// call_limit_s: the limit of the transport's call watchdog (MpiWorld), normally the layer's
// wait_timeout_s: a put or signal towards a peer that has not returned after it ends the job.
runtime::LayerWorldFactory mpi_layer_world(MPI_Comm comm, double call_limit_s);

// Collective over comm (rank and size from it; problem.world_size must equal the size): checks
// that every rank has the same configuration (a mismatch throws on every rank, naming the first
// differing field), then runs problem (forward, and backward when problem.backward) for this
// process's rank only. Every rank needs its own entry of problem.ranks (the others are not
// read). Results hold only this rank's entry; seconds are this rank's.
Results run_mpi_rank(MPI_Comm comm, const Problem& problem, const EngineOptions& options = {});

}  // namespace flashmoe::engine
