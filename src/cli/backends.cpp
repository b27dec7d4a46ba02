#include "cli/backends.hpp"

#include "cli/suggest.hpp"
#include "cli/usage_error.hpp"

namespace flashmoe::cli {

const Backend& find_backend(std::string_view name) {
  if (const Backend* backend = backends::find(name)) return *backend;
  std::vector<std::string> names;
  for (const Backend& backend : backends()) names.emplace_back(backend.name);
  throw UsageError("unknown backend '" + std::string(name) + "'" + did_you_mean(name, names) +
                   " (available: " + backend_names() + ")");
}

}  // namespace flashmoe::cli
