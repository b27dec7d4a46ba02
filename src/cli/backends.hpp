// The backends `flashmoe run` (and `flashmoe bench`) can run a Problem on. Engines come first
// in the table and the first one is the default; the reference closes the table, so it is the
// default only while no engine is built in.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "flashmoe/problem.hpp"

namespace flashmoe::cli {

struct BackendOptions {
  int workers_per_rank = 0;  // 0: the backend chooses
  std::string trace_path;    // empty: no trace
};

struct Backend {
  std::string_view name;
  std::string_view summary;   // one line for --help
  bool uses_workers = false;  // honours BackendOptions::workers_per_rank
  bool writes_trace = false;  // honours BackendOptions::trace_path
  Results (*run)(const Problem& problem, const BackendOptions& options) = nullptr;
  // Whether the backend runs this configuration (e.g. an engine without fp16); nullptr: every
  // configuration. Only the choice of the default consults it: a backend named explicitly
  // reports its own refusal.
  bool (*supports)(const Config& config) = nullptr;
};

const std::vector<Backend>& backends();
const Backend& default_backend();
// The first backend of the table that supports `config` (the reference supports all).
const Backend& default_backend_for(const Config& config);
// Throws UsageError listing the available backends when `name` is not one of them.
const Backend& find_backend(std::string_view name);
std::string backend_names();  // "cpu, reference"

}  // namespace flashmoe::cli
