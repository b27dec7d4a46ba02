// Set-up handshake (SPEC §6): ranks that disagree on the configuration are detected before any
// work and EVERY rank gets the same error naming the first differing field and the ranks on
// each side. Collective over comm; call it before sizing buffers from the configuration.
#pragma once

#include <mpi.h>

#include "flashmoe/config.hpp"

namespace flashmoe::transport {

// Compares config_hash(config) across the ranks (one allgather). On a mismatch the ranks
// exchange their configurations as JSON (two more allgathers) and all throw flashmoe::Error:
// "... rank 1 differs from rank 0 in top_k: 2 vs 3; ranks with rank 0's configuration: 0, 2;
// ranks with another: 1 ...". No rank returns while another throws, so nobody is left waiting.
void check_same_config(MPI_Comm comm, const Config& config);

}  // namespace flashmoe::transport
