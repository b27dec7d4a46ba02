// The engine over MPI: this process drives one rank of an MPI job (ranks as processes), its
// symmetric buffer an RMA window of an MpiWorld and its transport the MPI transport. The pass
// driver is the in-process one (layer_impl.hpp); only the world differs.
#pragma once

#include <mpi.h>

#include "engine/engine.hpp"
#include "flashmoe/problem.hpp"

namespace flashmoe::engine {

// Collective over comm (every rank must call it, with problem.world_size equal to the size):
// checks that every rank has the same configuration (a mismatch throws on every rank, naming
// the first differing field), then builds the layer of this process's rank. Only this rank's
// entry of problem.ranks is read; results() holds only this rank's entry. Destroying the layer
// is collective too. After a failed pass the layer refuses further passes: peers may still be
// inside the failed one.
Layer mpi_layer(MPI_Comm comm, const Problem& problem, EngineOptions options = {});

// mpi_layer, one forward (and backward when problem.backward), its results.
Results run_mpi_rank(MPI_Comm comm, const Problem& problem, const EngineOptions& options = {});

}  // namespace flashmoe::engine
