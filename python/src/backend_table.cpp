#include "backend_table.hpp"

#include <string>

#include "errors.hpp"

namespace flashmoe::python {

const Backend& find_backend(std::string_view name) {
  if (const Backend* backend = backends::find(name)) return *backend;
  throw ArgumentError("unknown backend '" + std::string(name) +
                      "' (available in this build: " + backends::names() + ")");
}

}  // namespace flashmoe::python
