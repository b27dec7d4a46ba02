// The backends a Problem can run on, as one table shared by the `flashmoe` command and the
// Python binding: engines first (fastest first), the reference last. Each front end wraps the
// look-up in its own error type (a usage error on the command line, ValueError in Python).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"
#include "flashmoe/problem.hpp"

namespace flashmoe::backends {

struct Options {
  int workers_per_rank = 0;  // 0: the backend chooses
  std::string trace_path;    // empty: no trace
  // The cpu engine's program (engine::EngineOptions): threads per processor group, dedicated
  // scheduler and subscriber threads instead of roles taken by idle processors, subscriber
  // partitions per rank. Results are the same bits for every choice.
  int group_size = 1;
  bool dedicated_roles = false;
  int subscribers = 1;
};

struct Backend {
  std::string_view name;
  std::string_view summary;   // one line for --help
  bool uses_workers = false;  // honours Options::workers_per_rank and the program's options
  bool writes_trace = false;  // honours Options::trace_path
  Results (*run)(const Problem& problem, const Options& options) = nullptr;
  // Whether the backend runs this configuration (the cpu engine refuses fp16); nullptr: every
  // configuration.
  bool (*supports)(const Config& config) = nullptr;
  // Why the backend cannot run on this machine ("no CUDA GPU is present ..."), empty when it
  // can; nullptr: it always can.
  std::string (*unavailable)() = nullptr;

  bool runs(const Config& config) const { return supports == nullptr || supports(config); }
  std::string unavailable_reason() const { return unavailable == nullptr ? "" : unavailable(); }
};

const std::vector<Backend>& all();
// The first backend of the table that runs `config` (the reference runs every configuration).
const Backend& default_for(const Config& config);
// nullptr when no backend has that name.
const Backend* find(std::string_view name);
std::string names();  // "cpu, reference"
// The cpu engine's options for `options` (also what the MPI front ends pass to the engine).
engine::EngineOptions engine_options_from(const Options& options);

}  // namespace flashmoe::backends
