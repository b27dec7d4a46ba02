#include "common/bounded_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "flashmoe/error.hpp"

namespace flashmoe {
namespace {

std::string type_problem(mode_t mode) {
  if (S_ISDIR(mode)) return "it is a directory";
  if (S_ISFIFO(mode)) return "it is a FIFO (named pipe), not a regular file";
  if (S_ISCHR(mode)) return "it is a character device, not a regular file";
  if (S_ISBLK(mode)) return "it is a block device, not a regular file";
  if (S_ISSOCK(mode)) return "it is a socket, not a regular file";
  return "it is not a regular file";
}

// Why stat() failed, in words; ENOENT on a path that is itself a symbolic link means its target
// is missing, which "No such file" would hide.
std::string stat_problem(const std::string& path, int error) {
  if (error == ELOOP) return "it is a symbolic link that loops (too many levels of links)";
  struct stat link {};
  if (error == ENOENT && ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
    std::array<char, 256> target{};
    const ssize_t n = ::readlink(path.c_str(), target.data(), target.size() - 1);
    return detail::concat("it is a dangling symbolic link (its target '",
                          n > 0 ? std::string_view(target.data(), static_cast<std::size_t>(n))
                                : std::string_view("?"),
                          "' does not exist)");
  }
  return std::strerror(error);
}

}  // namespace

BoundedFile::BoundedFile(const std::string& path, std::string_view what)
    : path_(path), what_(what) {
  // stat first, so that nothing but a regular file is ever opened: opening a FIFO would block
  // until a writer comes, opening a device may have effects of its own.
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) fail(stat_problem(path, errno));
  if (!S_ISREG(info.st_mode)) fail(type_problem(info.st_mode));
  // O_NONBLOCK: should the path have been replaced by a FIFO since the stat, the open still
  // returns, and fstat below refuses it.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd_ < 0) fail(std::strerror(errno));
  if (::fstat(fd_, &info) != 0) fail(std::strerror(errno));
  if (!S_ISREG(info.st_mode)) fail(type_problem(info.st_mode));
  size_ = static_cast<std::uint64_t>(info.st_size);
}

BoundedFile::~BoundedFile() {
  if (fd_ >= 0) ::close(fd_);
}

void BoundedFile::fail(std::string_view problem) const {
  throw Error(detail::concat("cannot read ", what_, " '", path_, "': ", problem));
}

void BoundedFile::require_size_at_most(std::uint64_t max_bytes, std::string_view reason) const {
  if (size_ > max_bytes)
    fail(detail::concat("it is ", size_, " bytes, more than the ", max_bytes, " allowed (", reason,
                        ")"));
}

std::size_t BoundedFile::read_some(char* out, std::size_t out_size) {
  std::size_t total = 0;
  while (total < out_size) {
    const ssize_t n = ::read(fd_, out + total, out_size - total);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(detail::concat("read failed: ", std::strerror(errno)));
    if (n == 0) break;
    total += static_cast<std::size_t>(n);
  }
  read_ += total;
  return total;
}

std::string BoundedFile::read_rest(std::size_t max_bytes, std::string_view reason) {
  require_size_at_most(max_bytes, reason);
  std::string contents;
  contents.reserve(static_cast<std::size_t>(size_ - std::min(size_, read_)));
  std::array<char, 1 << 16> chunk;
  // The size stat gave is a hint only (a file may grow; /proc files report 0), so the cap is
  // checked on what is actually read, too.
  while (const std::size_t n = read_some(chunk.data(), chunk.size())) {
    if (read_ > max_bytes)
      fail(detail::concat("it holds more than the ", max_bytes,
                          " bytes allowed (more than its size said when opened; ", reason, ")"));
    contents.append(chunk.data(), n);
  }
  return contents;
}

std::string read_bounded_file(const std::string& path, std::string_view what, std::size_t max_bytes,
                              std::string_view reason) {
  BoundedFile file(path, what);
  return file.read_rest(max_bytes, reason);
}

}  // namespace flashmoe
