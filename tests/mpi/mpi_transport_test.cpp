// mpi_transport_test <scenario> [--tag=...]: run under mpirun with 2 or 4 ranks. The exit status
// is 0 when every rank saw what the scenario expects; the failure scenarios (stall, die) end
// the job with MPI_Abort / a killed rank, and their CTest entries check that instead
// (expect_job_failure.sh). Extra arguments (--tag, used to find leftover processes) are ignored.
#include <cstdio>
#include <string_view>

#include "scenarios.hpp"
#include "transport/mpi/mpi_program.hpp"

namespace {

using Scenario = int (*)(flashmoe::transport::MpiSession&);

Scenario find_scenario(std::string_view name) {
  using namespace flashmoe::mpi_test;
  if (name == "exchange") return run_exchange;
  if (name == "config_mismatch") return run_config_mismatch;
  if (name == "size_mismatch") return run_size_mismatch;
  if (name == "abort") return run_abort;
  if (name == "stall") return run_stall;
  if (name == "die") return run_die;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  const Scenario scenario = argc >= 2 ? find_scenario(argv[1]) : nullptr;
  if (scenario == nullptr) {
    std::fprintf(stderr,
                 "usage: mpirun -np W %s exchange|config_mismatch|size_mismatch|abort|stall|die\n",
                 argv[0]);
    return 2;
  }
  return flashmoe::transport::run_mpi_program(&argc, &argv, scenario);
}
