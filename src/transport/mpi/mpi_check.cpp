#include "transport/mpi/mpi_check.hpp"

#include <string>

#include "flashmoe/error.hpp"

namespace flashmoe::transport::mpi_detail {

void fail_mpi_call(const char* call, int code, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  detail::throw_check_failure(
      file, line, nullptr,
      detail::concat("MPI call failed: ", call, " returned ", code, " (",
                     std::string(text, static_cast<std::size_t>(length)), ")"));
}

}  // namespace flashmoe::transport::mpi_detail
