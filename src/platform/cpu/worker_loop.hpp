// The persistent program's loop on one CPU worker (the CUDA target runs the same actors from
// its persistent kernel). Each iteration: take a task and run it (processor); else, if the
// rank's pass is over, leave; else try to play the subscriber; else wait one bounded step. A
// rank that made no progress for wait_timeout_s throws TimeoutError naming what it waits for;
// every worker leaves as soon as any rank raised the world's abort flag. (The pass counts as
// progress while any of the rank's tasks is queued or running.)
#pragma once

#include <algorithm>
#include <string>
#include <thread>

#include "flashmoe/error.hpp"
#include "platform/cpu/trace.hpp"
#include "platform/cpu/wait.hpp"
#include "runtime/processor.hpp"
#include "runtime/subscriber.hpp"

namespace flashmoe::platform {

// What rank s is still waiting for; taken while holding the subscriber lock (or after trying
// long enough that the holder is stuck too), read-only.
template <typename T>
std::string describe_wait(const runtime::RankState<T>& s, runtime::PassKind pass) {
  using runtime::PassKind;
  const runtime::WorkspaceLayout& l = s.layout;
  runtime::RankControl& c = s.control();
  const bool forward = pass == PassKind::forward;
  const std::int64_t packets = s.world.world_size * s.local_experts();
  const std::uint8_t* seen = s.template own<std::uint8_t>(l.packet_seen);
  for (std::int64_t p = 0; p < packets; ++p) {
    if (seen[p] != 0) continue;
    return detail::concat("the ", forward ? "dispatch" : "gradient (dy)",
                          " packet of local expert ", p % s.local_experts(), " from rank ",
                          p / s.local_experts(), " (signal epoch ", s.epoch, ")");
  }
  const std::uint8_t* scheduled = s.template own<std::uint8_t>(l.tile_scheduled);
  const std::uint64_t* expected = s.template own<std::uint64_t>(l.tile_expected);
  for (std::int64_t g = 0; g < s.active_token_tiles; ++g) {
    if (scheduled[g] != 0) continue;
    const std::uint64_t arrived =
        s.world.poll(s.rank, forward ? l.combine_counter(g) : l.dx_counter(g));
    const std::int64_t first = g * l.tiles.token_rows;
    const std::int64_t last = std::min(first + l.tiles.token_rows, s.tokens) - 1;
    return detail::concat("the returned ", forward ? "expert output (y)" : "input gradient (dx)",
                          " rows of token tile ", g, " (tokens ", first, "..", last, "): ", arrived,
                          " of ", expected[g], " row blocks arrived");
  }
  return detail::concat(load_acquire(c.pending_tasks), " unfinished tasks of its own");
}

template <typename T>
void run_worker(const runtime::RankState<T>& s, runtime::PassKind pass,
                const runtime::WorkerScratch<T>& scratch, double timeout_s, int worker,
                bool tracing, WorkerStats& stats) {
  using namespace runtime;
  const char* pass_name = pass == PassKind::forward ? "forward" : "backward";
  RankControl& control = s.control();
  const TaskQueue queue = s.queue();
  const ProgressDeadline deadline(timeout_s);
  IdleBackoff backoff;
  stats.task_seconds.assign(static_cast<std::size_t>(kTaskKinds), 0.0);
  std::int64_t idle_since = steady_now_ns();
  const auto end_idle = [&](std::int64_t now) {
    stats.idle_seconds += static_cast<double>(now - idle_since) * 1e-9;
  };
  while (!s.world.aborted()) {
    Task task;
    if (queue.try_pop(task)) {
      const std::int64_t start = steady_now_ns();
      end_idle(start);
      execute_task(s, task, scratch);
      const std::int64_t end = steady_now_ns();
      stats.task_seconds[static_cast<std::size_t>(task.kind)] +=
          static_cast<double>(end - start) * 1e-9;
      if (tracing)
        stats.events.push_back(
            {task_name(task.kind), start, end - start, s.rank, worker, pass_name});
      store_relaxed(control.last_progress_ns, static_cast<std::uint64_t>(end));
      finish_task(s);
      idle_since = end;
      backoff.reset();
      continue;
    }
    if (pass_finished(s)) break;
    if (try_lock_subscriber(s)) {
      const std::int64_t start = steady_now_ns();
      bool produced = false;
      try {
        produced = poll_arrivals(s, pass);
      } catch (...) {
        unlock_subscriber(s);
        throw;
      }
      unlock_subscriber(s);
      const std::int64_t end = steady_now_ns();
      end_idle(start);
      idle_since = end;
      stats.subscriber_seconds += static_cast<double>(end - start) * 1e-9;
      if (produced) {
        store_relaxed(control.last_progress_ns, static_cast<std::uint64_t>(end));
        backoff.reset();
        continue;
      }
    }
    // A rank with a task in flight is making progress however long the task takes; only a rank
    // with nothing to run and nothing arriving for timeout_s is stuck on a peer.
    if (load_acquire(control.pending_tasks) == 0 &&
        deadline.expired(static_cast<std::int64_t>(load_relaxed(control.last_progress_ns)))) {
      // Hold the subscriber lock while reading its bookkeeping (its holder finishes quickly).
      while (!try_lock_subscriber(s)) std::this_thread::yield();
      std::string waited_for = describe_wait(s, pass);
      unlock_subscriber(s);
      throw TimeoutError(detail::concat("rank ", s.rank, " timed out after ", deadline.seconds(),
                                        " s in the ", pass_name, " pass waiting for ", waited_for));
    }
    backoff.pause();
  }
  end_idle(steady_now_ns());
}

}  // namespace flashmoe::platform
