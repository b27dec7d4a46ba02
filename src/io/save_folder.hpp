// Where `flashmoe run --save DIR` writes, so that DIR never holds a mix of two runs
// (docs/file_layout.md, "Saving"):
//   - before the run, check_save_folder refuses a DIR that exists and is not empty, unless
//     --force — and then only what flashmoe owns there (meta.json, wg.npy, rank<r>/) is
//     replaced; other files are left alone;
//   - the run is written into a staging folder beside DIR (staging_folder: ".<name>.partial"
//     in DIR's parent) and moved into DIR when complete: every rank<r>/ first, then wg.npy and
//     meta.json last, so a DIR with a meta.json is always one whole run. An interrupted save
//     leaves only the staging folder, which the next save removes.
// Under MPI rank 0 begins the staging folder, every process writes its own rank<r>/ into it,
// rank 0 retires the old meta.json, every process moves its rank<r>/, and rank 0 moves wg.npy
// and meta.json last — with a barrier between the steps, which the caller provides.
#pragma once

#include <filesystem>
#include <string>

#include "flashmoe/problem.hpp"

namespace flashmoe::io {

// Throws flashmoe::Error when DIR exists and is not an empty directory, and force is false
// (naming an entry found there), or when DIR exists and is not a directory.
void check_save_folder(const std::filesystem::path& dir, bool force);

// ".<name>.partial" beside DIR.
std::filesystem::path staging_folder(const std::filesystem::path& dir);

// Removes what a previous interrupted save left in the staging folder, and creates it empty.
void begin_staging(const std::filesystem::path& dir);

// Removes DIR/meta.json, so that DIR is not taken for a saved run while its rank<r>/ change.
void retire_meta(const std::filesystem::path& dir);

// Moves staging/rank<r>/ to DIR/rank<r>/, replacing an old rank<r>/ (creating DIR if needed).
void publish_rank(const std::filesystem::path& dir, int rank);

// After every rank is published: removes stale rank<r>/ folders of an earlier, larger run
// (r ≥ world_size), moves wg.npy and then meta.json into DIR, and removes the staging folder.
void publish_meta(const std::filesystem::path& dir, int world_size);

// All of it for a run whose ranks live in this process (after check_save_folder).
void save_run_whole(const std::filesystem::path& dir, const Problem& problem,
                    const Results& results, const std::string& backend);

}  // namespace flashmoe::io
