// Set-up handshake (SPEC §6): ranks that disagree on the configuration are detected before any
// work and EVERY rank gets the same error naming the first differing field and the ranks on
// each side. Collective over comm; call it before sizing buffers from the configuration.
#pragma once

#include <mpi.h>

#include <string>
#include <string_view>
#include <vector>

#include "flashmoe/config.hpp"

namespace flashmoe::transport {

// Compares config_hash(config) across the ranks (one allgather). On a mismatch the ranks
// exchange their configurations as JSON (two more allgathers) and all throw flashmoe::Error:
// "... rank 1 differs from rank 0 in top_k: 2 vs 3; ranks with rank 0's configuration: 0, 2;
// ranks with another: 1 ...". No rank returns while another throws, so nobody is left waiting.
void check_same_config(MPI_Comm comm, const Config& config);

// One named setting of a run (a command-line option and its value as given).
struct NamedValue {
  std::string name;
  std::string value;
};

// The same handshake for a run's other options (`what` names them in the error, e.g. "run
// options"): every rank passes its settings, sorted by name, one entry per name; an option a
// rank did not give is absent. One allgather of a hash when they agree; on a mismatch every rank
// throws flashmoe::Error naming the first option that differs, its value on rank 0 and on the
// first differing rank ("absent" where not given), and the ranks on each side. Call it before
// anything whose collectives depend on those options.
void check_same_options(MPI_Comm comm, const std::vector<NamedValue>& options,
                        std::string_view what);

}  // namespace flashmoe::transport
