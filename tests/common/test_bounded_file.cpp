// The bounded file reader: each kind of path that is not a regular file gets its own message,
// and the size cap holds both against the size stat reports and against what is read.
#include "common/bounded_file.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "../io/temp_dir.hpp"
#include "support/error_message.hpp"

namespace flashmoe {
namespace {

namespace fs = std::filesystem;
using test::contains_all;
using test::error_message;

std::string read_error(const fs::path& path, std::size_t max_bytes = 1024) {
  return error_message([&] { read_bounded_file(path.string(), "test file", max_bytes, "why"); });
}

TEST(BoundedFile, ReadsARegularFileAndALinkToOne) {
  const flashmoe::testing::TempDir dir;
  std::ofstream(dir / "a.json") << "{\"hidden\": 16}";
  fs::create_symlink(dir / "a.json", dir / "link.json");
  EXPECT_EQ(read_bounded_file((dir / "a.json").string(), "test file", 14, "why"),
            "{\"hidden\": 16}");
  EXPECT_EQ(read_bounded_file((dir / "link.json").string(), "test file", 14, "why"),
            "{\"hidden\": 16}");
}

TEST(BoundedFile, EachKindOfNonRegularFileHasItsOwnMessage) {
  const flashmoe::testing::TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0) << std::strerror(errno);
  fs::create_symlink(dir / "nowhere", dir / "dangling");
  fs::create_symlink(dir / "loop_b", dir / "loop_a");
  fs::create_symlink(dir / "loop_a", dir / "loop_b");
  fs::create_symlink("/dev/zero", dir / "zero");

  EXPECT_TRUE(
      contains_all(read_error(dir.path()), {"test file", dir.path().string(), "directory"}));
  // A FIFO without a writer: refused at once, not waited on.
  EXPECT_TRUE(contains_all(read_error(dir / "fifo"), {"fifo", "it is a FIFO (named pipe)"}));
  EXPECT_TRUE(contains_all(read_error("/dev/zero"), {"it is a character device"}));
  EXPECT_TRUE(contains_all(read_error(dir / "zero"), {"it is a character device"}));
  EXPECT_TRUE(contains_all(read_error(dir / "dangling"),
                           {"dangling symbolic link", "nowhere", "does not exist"}));
  EXPECT_TRUE(contains_all(read_error(dir / "loop_a"), {"symbolic link that loops"}));
  EXPECT_TRUE(contains_all(read_error(dir / "absent"), {"absent", "No such file"}));
}

TEST(BoundedFile, ASocketIsRefused) {
  const flashmoe::testing::TempDir dir;
  const fs::path path = dir / "socket";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.string().size(), sizeof address.sun_path);
  std::strcpy(address.sun_path, path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0)
      << std::strerror(errno);
  EXPECT_TRUE(contains_all(read_error(path), {"it is a socket"}));
  ::close(fd);
}

TEST(BoundedFile, AnUnreadableFileSaysPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every file; the refusal cannot be seen";
  const flashmoe::testing::TempDir dir;
  std::ofstream(dir / "secret") << "{}";
  fs::permissions(dir / "secret", fs::perms::none);
  EXPECT_TRUE(contains_all(read_error(dir / "secret"), {"Permission denied"}));
}

TEST(BoundedFile, TheCapIsCheckedBeforeReading) {
  const flashmoe::testing::TempDir dir;
  // Sparse: 200 MB that cost no disk and, refused by its size, no memory either.
  { std::ofstream(dir / "big") << "{"; }
  fs::resize_file(dir / "big", 200'000'000);
  EXPECT_TRUE(contains_all(read_error(dir / "big", 1 << 20),
                           {"it is 200000000 bytes, more than the 1048576 allowed (why)"}));
}

TEST(BoundedFile, TheCapIsCheckedWhileReading) {
  // Files of /proc report size 0 and have content: only the reading itself can see the cap.
  EXPECT_TRUE(contains_all(read_error("/proc/self/maps", 16),
                           {"/proc/self/maps", "more than the 16 bytes allowed"}));
}

}  // namespace
}  // namespace flashmoe
