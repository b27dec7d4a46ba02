// The top-level helper for MPI executables (the ONLY place that ends the job; library code
// throws and never exits, DESIGN §6).
//
//   int main(int argc, char** argv) {
//     return flashmoe::transport::run_mpi_program(&argc, &argv, [&](MpiSession& session) {
//       ...; return 0;
//     });
//   }
//
// It ignores SIGPIPE (a write to a dead peer's socket must fail, not kill this rank and hide
// which rank died), creates the MpiSession, runs the body, and
//   - body returns 0: finalises MPI and returns 0;
//   - body throws (a TimeoutError, a mismatch, any std::exception): prints
//     "flashmoe rank R of W: <kind>: <message>" on stderr, then MPI_Abort(MPI_COMM_WORLD, 1);
//   - body returns non-zero: prints that status, then MPI_Abort with it.
// MPI_Abort makes the launcher (mpirun, srun) kill every process of the job, also ranks that
// stalled or still wait for this one: a failure never leaves processes behind, and the job's
// exit status is non-zero. Peers need not be told first — they are being killed.
#pragma once

#include <functional>

#include "transport/mpi/mpi_session.hpp"

namespace flashmoe::transport {

int run_mpi_program(int* argc, char*** argv, const std::function<int(MpiSession&)>& body);

}  // namespace flashmoe::transport
