// run_on_new_threads: a body's exception reaches the caller after every thread joined, the
// error hook runs once, and a thread that cannot be created is an Error naming the counts — not
// std::terminate — with no body started.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>

#include "common/thread_start.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe {
namespace {

TEST(RunOnNewThreads, RunsEveryIndexOnce) {
  std::atomic<int> sum{0}, calls{0};
  run_on_new_threads(8, [&](int index) {
    sum += index;
    ++calls;
  });
  EXPECT_EQ(calls.load(), 8);
  EXPECT_EQ(sum.load(), 28);
  EXPECT_NO_THROW(run_on_new_threads(0, [](int) {}));
}

TEST(RunOnNewThreads, TheFirstErrorIsRethrownAfterAllJoinedAndTheHookRunsOnce) {
  std::atomic<int> finished{0}, hook_calls{0};
  std::atomic<bool> stop{false};
  try {
    run_on_new_threads(
        4,
        [&](int index) {
          if (index == 2) FLASHMOE_FAIL("body 2 failed");
          while (!stop.load()) std::this_thread::yield();  // until the hook says stop
          ++finished;
        },
        [&] {
          ++hook_calls;
          stop = true;
        });
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("body 2 failed"), std::string::npos) << e.what();
  }
  EXPECT_EQ(finished.load(), 3);  // every other body ran to its end before the rethrow
  EXPECT_EQ(hook_calls.load(), 1);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// The process's virtual memory in bytes (/proc/self/statm, first field in pages).
std::int64_t virtual_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t pages = 0;
  statm >> pages;
  return pages * sysconf(_SC_PAGESIZE);
}

// In a child process whose address space leaves room for a few thread stacks only.
TEST(RunOnNewThreads, AThreadThatCannotBeCreatedIsAnErrorNotATerminate) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const rlim_t limit = static_cast<rlim_t>(virtual_bytes() + (64 << 20));
    const rlimit rl{limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(10);
    std::atomic<int> ran{0};
    try {
      run_on_new_threads(256, [&](int) { ++ran; });  // 256 stacks of 8 MiB do not fit
      _exit(11);
    } catch (const Error& e) {
      const std::string message = e.what();
      if (message.find("could not start 256 threads") == std::string::npos) _exit(12);
      if (ran.load() != 0) _exit(13);  // no body may run when not all threads exist
      _exit(0);
    } catch (...) {
      _exit(14);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child was ended by a signal (std::terminate?)";
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10: setrlimit failed, 11: all threads started, 12: wrong message, 13: a body ran, "
         "14: not a flashmoe::Error";
}
#endif

}  // namespace
}  // namespace flashmoe
