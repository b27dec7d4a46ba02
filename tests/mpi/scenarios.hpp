// The scenarios of mpi_transport_test, one per CTest entry (see CMakeLists.txt). Each runs on
// every rank inside run_mpi_program: a failed expectation throws flashmoe::Error, which the
// helper prints and turns into MPI_Abort, so the job exits non-zero.
#pragma once

#include <string>

#include "flashmoe/error.hpp"
#include "transport/mpi/mpi_session.hpp"

namespace flashmoe::mpi_test {

using transport::MpiSession;

// A failed expectation: thrown, reported by the top-level helper with the rank.
template <typename... Args>
void expect(bool condition, Args&&... message) {
  if (!condition) throw Error(detail::concat("expectation failed: ", message...));
}

int run_exchange(MpiSession& session);         // provenance rows, signals, sums, epochs
int run_config_mismatch(MpiSession& session);  // one rank's top_k differs → all see 'top_k'
int run_size_mismatch(MpiSession& session);    // buffer sizes differ → all see the sizes
int run_abort(MpiSession& session);            // raise_abort ends the others' waits at once
int run_stall(MpiSession& session);            // rank 1 never sends → the others time out
int run_die(MpiSession& session);              // rank 1 is killed mid-pass → job ends

}  // namespace flashmoe::mpi_test
