#include "cli/mpi_launch.hpp"

#include <cstdlib>

#include "cli/usage_error.hpp"

namespace flashmoe::cli {

bool wants_mpi_transport(const std::optional<std::string>& transport) {
  if (transport) {
    if (*transport == "mpi") return true;
    if (*transport == "local") return false;
    throw UsageError("unknown transport '" + *transport + "' (available: local, mpi)");
  }
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(variable) != nullptr) return true;
  return false;
}

bool mpi_transport_built() {
#ifdef FLASHMOE_HAVE_MPI
  return true;
#else
  return false;
#endif
}

}  // namespace flashmoe::cli
