// The backends the Python binding can run a layer call on, fastest first; the first is the
// default. Mirrors the `flashmoe` command's table (src/cli/backends.cpp) without depending on
// the CLI library: "cpu" (the fused in-process engine) when flashmoe_engine is built in, and
// "reference" (the naive oracle of SPEC) always.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "flashmoe/problem.hpp"

namespace flashmoe::python {

struct Backend {
  std::string_view name;
  std::string_view summary;
  bool supports_fp16 = true;
  Results (*run)(const Problem& problem) = nullptr;
};

const std::vector<Backend>& backends();
const Backend& default_backend();
// Throws ArgumentError listing the available backends when `name` is not one of them.
const Backend& find_backend(std::string_view name);
std::string backend_names();  // "cpu, reference"

}  // namespace flashmoe::python
