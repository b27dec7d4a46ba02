// Every MPI call in the transport goes through FLASHMOE_MPI(call): a return code other than
// MPI_SUCCESS becomes a flashmoe::Error naming the call, MPI's own error text and file:line.
// This works because MpiSession and MpiWorld install MPI_ERRORS_RETURN on the communicator and
// the window (MPI's default handler would end the job without saying which call failed).
#pragma once

#include <mpi.h>

namespace flashmoe::transport::mpi_detail {

[[noreturn]] void fail_mpi_call(const char* call, int code, const char* file, int line);

inline void check_mpi(int code, const char* call, const char* file, int line) {
  if (code != MPI_SUCCESS) [[unlikely]] {
    fail_mpi_call(call, code, file, line);
  }
}

}  // namespace flashmoe::transport::mpi_detail

#define FLASHMOE_MPI(call) \
  ::flashmoe::transport::mpi_detail::check_mpi((call), #call, __FILE__, __LINE__)
