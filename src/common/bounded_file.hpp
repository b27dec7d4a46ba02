// Reading a file that a user named, without trusting it: only a regular file is read (a
// directory, FIFO, device, socket, dangling or looping symbolic link each gets its own message,
// and nothing but a regular file is ever opened, so a FIFO cannot block and /dev/zero cannot
// stream forever), and never more than a cap, checked against the size stat reports before
// reading and again while reading (a file that grows, or one of /proc that reports size 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace flashmoe {

// An open regular file. `what` names the file's role in every message ("configuration file",
// "npy file"): "cannot read <what> '<path>': it is a FIFO (named pipe)".
class BoundedFile {
 public:
  BoundedFile(const std::string& path, std::string_view what);
  ~BoundedFile();
  BoundedFile(const BoundedFile&) = delete;
  BoundedFile& operator=(const BoundedFile&) = delete;

  // The size stat reported at open.
  std::uint64_t size() const { return size_; }
  // Refuses the file when stat says it is larger than max_bytes; `reason` says why the cap
  // exists and ends the message.
  void require_size_at_most(std::uint64_t max_bytes, std::string_view reason) const;
  // Reads the next bytes into `out`: up to out_size of them, fewer only at the end of the file.
  std::size_t read_some(char* out, std::size_t out_size);
  // Reads everything that is left, refusing the file once it exceeds max_bytes in total.
  std::string read_rest(std::size_t max_bytes, std::string_view reason);

  [[noreturn]] void fail(std::string_view problem) const;

 private:
  std::string path_;
  std::string what_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t read_ = 0;  // bytes read so far
};

// The whole file, at most max_bytes of it (else refused, naming the cap and `reason`).
std::string read_bounded_file(const std::string& path, std::string_view what, std::size_t max_bytes,
                              std::string_view reason);

}  // namespace flashmoe
