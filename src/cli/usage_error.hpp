// A mistake on the command line (unknown option, missing value, malformed number, ...). main
// prints it with a pointer to --help and exits with status 2, keeping exit status 1 for
// flashmoe::Error (a well-formed request that the library refused or that failed).
#pragma once

#include <stdexcept>

namespace flashmoe::cli {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace flashmoe::cli
