// Which transport `flashmoe run` uses: `--transport local|mpi`, or, without the option, `mpi`
// when the process was started by an MPI launcher (the environment variables Open MPI's mpirun,
// MPICH/Intel MPI's hydra and PMIx-based launchers such as srun set), else `local`.
#pragma once

#include <optional>
#include <string>

namespace flashmoe::cli {

// True when `--transport` (nullopt when absent) or the environment asks for MPI. Throws
// UsageError for an unknown transport name.
bool wants_mpi_transport(const std::optional<std::string>& transport);

// Whether this build has the MPI transport (CMake found MPI).
bool mpi_transport_built();

}  // namespace flashmoe::cli
