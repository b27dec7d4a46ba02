// Threads that never end the process: every thread flashmoe starts for a job runs through
// run_on_new_threads, which turns the two ways a thread can fail into one flashmoe::Error for
// the caller instead of std::terminate:
//  - a body that throws: the first exception is kept, `on_first_error` runs once (so the other
//    bodies can be told to leave their loops, e.g. by raising an abort flag), and the exception
//    is rethrown after every thread has joined;
//  - a thread that cannot be created (the system's thread or memory limit): no body runs at all
//    (each started thread waits at a start gate until all exist, so no body can block on a
//    barrier or a peer that will never come), the started threads are joined, and an Error
//    names how many threads were asked for and how many could be started.
#pragma once

#include <exception>
#include <functional>
#include <memory>

namespace flashmoe {

// Runs body(index) for index in [0, count) on `count` new threads, each body starting only once
// all `count` threads exist, and returns when all have finished. count ≥ 0.
void run_on_new_threads(int count, const std::function<void(int index)>& body,
                        const std::function<void()>& on_first_error = {});

}  // namespace flashmoe

namespace flashmoe {

// Threads that live as long as their owner (the engine's program threads): all of them start —
// each body runs only once every thread exists — or none does (an Error naming the counts, as
// for run_on_new_threads). The owner makes the bodies return (they wait on something the owner
// controls) before the team is destroyed; the destructor joins. A body that throws does not end
// the process: its exception is kept (first_error) and the other bodies go on.
class ThreadTeam {
 public:
  ThreadTeam(int count, std::function<void(int index)> body);
  ~ThreadTeam();
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  // The first exception a body let escape, or null.
  std::exception_ptr first_error() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace flashmoe
