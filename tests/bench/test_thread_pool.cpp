// The baseline's thread pool: every task runs exactly once per parallel_for, the call is a
// barrier, and a task's exception reaches the caller.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "bench/thread_pool.hpp"

namespace flashmoe::bench {
namespace {

TEST(ThreadPool, RunsEveryTaskOnceAndWaits) {
  for (int threads : {1, 2, 5}) {
    ThreadPool pool(threads);
    for (int round = 0; round < 20; ++round) {
      std::vector<std::atomic<int>> hits(97);
      pool.parallel_for(97, [&](std::int64_t i) { hits[static_cast<std::size_t>(i)]++; });
      for (const auto& h : hits) ASSERT_EQ(h.load(), 1) << threads << " threads";
    }
    pool.parallel_for(0, [](std::int64_t) { FAIL(); });
  }
}

TEST(ThreadPool, RethrowsATaskError) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(10,
                                 [](std::int64_t i) {
                                   if (i == 4) throw std::runtime_error("task 4");
                                 }),
               std::runtime_error);
  std::atomic<int> count{0};
  pool.parallel_for(8, [&](std::int64_t) { ++count; });  // still usable afterwards
  EXPECT_EQ(count.load(), 8);
}

}  // namespace
}  // namespace flashmoe::bench
