// The directory layout of `flashmoe run --save DIR` / `--load DIR` (docs/file_layout.md):
//
//   DIR/meta.json        configuration, world size, tokens per rank, backend, backward, d_aux, d_z
//   DIR/wg.npy           gate weight [E, H] (replicated, stored once)
//   DIR/rank<r>/         x, out, topk_idx, topk_weight, kept, losses, this rank's experts' w1,
//                        w2 (b1, b2 with bias); with backward also dout, dx, dwg, dw1, dw2
//                        (db1, db2 with bias)
//
// Floating tensors are float64 for fp64 runs and float32 otherwise (bf16/fp16 values upcast
// exactly), so numpy reads every file without knowing about half types. Python tools and the
// MPI launcher read and write this layout, so its names and shapes are a contract.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "flashmoe/problem.hpp"

namespace flashmoe::io {

// Everything meta.json holds. It is enough to size every tensor of the layout.
struct RunMeta {
  Config config;
  int world_size = 1;
  std::vector<std::int64_t> tokens;  // S_r for every rank
  std::string backend;               // the backend that produced the outputs
  bool backward = false;
  double d_aux = 0.0;
  double d_z = 0.0;
};

RunMeta meta_of(const Problem& problem, const std::string& backend);
// The same with the tokens per rank given: for a process that holds only its own rank's inputs
// (an MPI job's rank; the other entries of problem.ranks are empty).
RunMeta meta_of(const Problem& problem, std::vector<std::int64_t> tokens,
                const std::string& backend);

// Element type of the floating tensors in the files of a run of this dtype.
ElementType file_float_type(DType dtype);

// Relative paths (with '/' separators) of every file a save writes, in a stable order.
std::vector<std::string> layout_files(const RunMeta& meta);
std::vector<std::string> rank_files(const RunMeta& meta);  // within each rank<r>/

// Saving in pieces lets every process of a distributed run write its own part: rank 0 calls
// save_meta (meta.json and wg.npy), every rank r calls save_rank for rank<r>/. Directories are
// created as needed; existing files are overwritten.
void save_meta(const std::filesystem::path& dir, const RunMeta& meta, const HostTensor& wg);
void save_rank(const std::filesystem::path& dir, const RunMeta& meta, int rank,
               const RankInputs& inputs, const RankOutputs& outputs);
// Both, for a run whose ranks all live in this process.
void save_run(const std::filesystem::path& dir, const Problem& problem, const Results& results,
              const std::string& backend);

// meta.json alone; errors name the file and the missing or invalid key. The file is read as
// configuration files are: a regular file of bounded size, one JSON object with no NUL byte,
// no repeated key, bounded nesting and numbers in range (config/json_document.hpp).
RunMeta load_meta(const std::filesystem::path& dir);
// The same from the text of a meta.json; `source` names it in errors.
RunMeta parse_meta(std::string_view text, const std::string& source);

// The inputs of a saved run (x, weights, dout when backward), converted to the dtype's storage
// type. Refuses missing files, wrong shapes or element types (naming tensor, expected, actual)
// and float values that the dtype cannot represent exactly; the result passes validate_problem.
Problem load_problem(const std::filesystem::path& dir);
// The same with only rank `rank`'s inputs read (meta.json, wg.npy and rank<rank>/; the other
// entries of problem.ranks stay empty): what a process driving one rank of an MPI job needs, so
// that each node needs only its own rank's folder. Passes validate_problem_rank.
Problem load_rank_problem(const std::filesystem::path& dir, int rank);

// The outputs of a saved run (out, routing, losses, gradients when backward), as stored in the
// files (float64 or float32); routed/accepted counts are recomputed from topk_idx and kept.
Results load_results(const std::filesystem::path& dir, const RunMeta& meta);

}  // namespace flashmoe::io
