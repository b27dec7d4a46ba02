#include "io/save_folder.hpp"

#include <string>
#include <string_view>
#include <system_error>

#include "flashmoe/error.hpp"
#include "io/run_layout.hpp"

namespace flashmoe::io {
namespace fs = std::filesystem;
namespace {

// r when `name` is "rank<r>" as save_rank names it (decimal, no leading zero), else -1. By hand:
// std::regex trips a false -Wmaybe-uninitialized in g++ 12 under the sanitizers.
long long rank_of_folder(const std::string& name) {
  constexpr std::string_view prefix = "rank";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
  const std::string digits = name.substr(prefix.size());
  if (digits.size() > 9 || (digits.size() > 1 && digits[0] == '0')) return -1;
  long long rank = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return -1;
    rank = rank * 10 + (c - '0');
  }
  return rank;
}

[[noreturn]] void fail(const std::string& what, const fs::path& path, const std::error_code& ec) {
  throw Error(detail::concat("--save: cannot ", what, " '", path.string(), "': ", ec.message()));
}

void remove_all_or_fail(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) fail("remove", path, ec);
}

void move_into_place(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(to))) remove_all_or_fail(to);
  fs::rename(from, to, ec);
  if (ec) fail("move the saved files into", to, ec);
}

}  // namespace

void check_save_folder(const fs::path& dir, bool force) {
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (!fs::exists(status)) return;
  if (!fs::is_directory(status))
    throw Error(detail::concat("--save ", dir.string(), ": it exists and is not a directory"));
  if (force) return;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec))
    throw Error(detail::concat(
        "--save ", dir.string(), ": the folder is not empty (it holds '",
        entry.path().filename().string(),
        "'); pass --force to replace what flashmoe saved there (meta.json, wg.npy, rank<r>/; "
        "other files are kept), or choose another folder"));
  if (ec) fail("read", dir, ec);
}

fs::path staging_folder(const fs::path& dir) {
  const fs::path absolute = fs::absolute(dir).lexically_normal();
  const fs::path name = absolute.has_filename() ? absolute.filename()
                                                : absolute.parent_path().filename();
  const fs::path parent = absolute.has_filename() ? absolute.parent_path()
                                                  : absolute.parent_path().parent_path();
  // Appended piece by piece: g++ 12 misreports `"." + s + ".partial"` as an overlapping
  // memcpy (-Wrestrict) at -O3.
  std::string staging = ".";
  staging.append(name.string()).append(".partial");
  return parent / staging;
}

void begin_staging(const fs::path& dir) {
  const fs::path staging = staging_folder(dir);
  remove_all_or_fail(staging);
  std::error_code ec;
  fs::create_directories(staging, ec);
  if (ec) fail("create", staging, ec);
}

void retire_meta(const fs::path& dir) {
  std::error_code ec;
  fs::remove(dir / "meta.json", ec);
  if (ec) fail("remove", dir / "meta.json", ec);
}

void publish_rank(const fs::path& dir, int rank) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("create", dir, ec);
  const std::string name = "rank" + std::to_string(rank);
  move_into_place(staging_folder(dir) / name, dir / name);
}

void publish_meta(const fs::path& dir, int world_size) {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    if (rank_of_folder(entry.path().filename().string()) >= world_size)
      remove_all_or_fail(entry.path());
  }
  if (ec) fail("read", dir, ec);
  const fs::path staging = staging_folder(dir);
  move_into_place(staging / "wg.npy", dir / "wg.npy");
  move_into_place(staging / "meta.json", dir / "meta.json");  // last: it marks a whole run
  remove_all_or_fail(staging);
}

void save_run_whole(const fs::path& dir, const Problem& problem, const Results& results,
                    const std::string& backend) {
  begin_staging(dir);
  save_run(staging_folder(dir), problem, results, backend);
  retire_meta(dir);
  for (int r = 0; r < problem.world_size; ++r) publish_rank(dir, r);
  publish_meta(dir, problem.world_size);
}

}  // namespace flashmoe::io
