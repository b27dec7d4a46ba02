// The backends `flashmoe run` (and `flashmoe bench`) can run a Problem on: the shared table of
// src/backends (engines first, the reference last), looked up with command-line errors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "backends/backends.hpp"

namespace flashmoe::cli {

using BackendOptions = backends::Options;
using Backend = backends::Backend;

inline const std::vector<Backend>& backends() {
  return backends::all();
}
inline const Backend& default_backend() {
  return backends::all().front();
}
inline const Backend& default_backend_for(const Config& config) {
  return backends::default_for(config);
}
inline std::string backend_names() {
  return backends::names();
}
// Throws UsageError with a suggestion and the available backends when `name` is not one.
const Backend& find_backend(std::string_view name);

}  // namespace flashmoe::cli
