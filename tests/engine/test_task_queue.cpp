// The scheduler's bounded queue: FIFO, overflow reported (never a silent drop), and under
// concurrent producers and consumers every task is taken exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "runtime/task_queue.hpp"

namespace flashmoe::runtime {
namespace {

struct QueueStorage {
  explicit QueueStorage(std::uint64_t capacity) : slots(capacity), published(capacity, 0) {
    queue = {slots.data(), published.data(), &head, &tail, capacity};
  }
  std::vector<Task> slots;
  std::vector<std::uint32_t> published;
  std::uint64_t head = 0, tail = 0;
  TaskQueue queue;
};

TEST(TaskQueue, FifoAndOverflowIsReported) {
  QueueStorage storage(3);
  const TaskQueue& q = storage.queue;
  Task task;
  EXPECT_FALSE(q.try_pop(task));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(q.push(Task{TaskKind::gate_tile, 0, 0, i, 0}));
  EXPECT_FALSE(q.push(Task{TaskKind::gate_tile, 0, 0, 99, 0})) << "overflow must be reported";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(q.try_pop(task));
    EXPECT_EQ(task.tile, i);
  }
  EXPECT_FALSE(q.try_pop(task));
}

TEST(TaskQueue, ConcurrentProducersAndConsumersTakeEachTaskOnce) {
  constexpr int kProducers = 3, kConsumers = 3, kPerProducer = 2000;
  constexpr int kTasks = kProducers * kPerProducer;
  QueueStorage storage(kTasks);
  const TaskQueue& q = storage.queue;
  std::vector<std::atomic<int>> taken(kTasks);
  std::atomic<int> total{0}, refused{0};
  // Consumers stop when every task was taken, when a push was refused (those tasks will never
  // come), or at a deadline far beyond the milliseconds this takes: a lost task fails the test
  // instead of hanging it until CTest's timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i)
        if (!q.push(Task{TaskKind::expert_up, 0, 0, p * kPerProducer + i, 0})) refused.fetch_add(1);
    });
  for (int c = 0; c < kConsumers; ++c)
    threads.emplace_back([&] {
      Task task;
      while (total.load() + refused.load() < kTasks &&
             std::chrono::steady_clock::now() < deadline) {
        if (q.try_pop(task)) {
          taken[static_cast<std::size_t>(task.tile)].fetch_add(1);
          total.fetch_add(1);
        } else {
          std::this_thread::yield();
        }
      }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(refused.load(), 0) << "pushes refused by a queue sized for every task";
  EXPECT_EQ(total.load(), kTasks) << "tasks taken before the 30 s deadline";
  for (std::size_t i = 0; i < taken.size(); ++i) EXPECT_EQ(taken[i].load(), 1) << "task " << i;
}

}  // namespace
}  // namespace flashmoe::runtime
