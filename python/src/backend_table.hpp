// The backends the Python binding can run a layer call on: the shared table of src/backends
// (the same as the `flashmoe` command's), looked up with Python's errors.
#pragma once

#include <string_view>

#include "backends/backends.hpp"

namespace flashmoe::python {

using Backend = backends::Backend;

// Throws ArgumentError (→ ValueError) listing the available backends when `name` is not one.
const Backend& find_backend(std::string_view name);

}  // namespace flashmoe::python
