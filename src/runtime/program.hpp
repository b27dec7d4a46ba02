// The persistent program of one rank, as each of its participants runs it for one pass
// (DESIGN §3). Written once for both targets: a CPU thread group and a CUDA thread block run
// the same functions; the CPU keeps its participants alive for the whole layer and calls
// run_pass pass after pass, a GPU launch calls it once.
//
// Participants of a rank: `processor_groups` processor groups (of group_size members), and with
// dedicated roles one scheduler and `subscriber_partitions` subscribers (groups of one). Roles:
//   shared    (few cores, the CPU default): an idle processor group's leader takes a task from
//             the ready queue itself, or takes a subscriber partition's lock and sweeps it;
//   dedicated (FlashDMoE's OS block; on the CPU a thread each): the scheduler moves tasks from
//             the ready queue into the mailbox of an idle processor group, every subscriber
//             sweeps its own partition, processors only run what they are handed.
// Either way results are the same bits: what a task computes never depends on who runs it.
//
// A pass, with no host fence before or after it:
//   enter  group 0 waits until every participant has left the previous pass, resets what the
//          rank owns for a pass (control words, queue, subscriber bookkeeping, the arrival
//          counters' bases, widened inputs) and queues the first tasks, then opens the pass
//          (begun_epoch); the others wait for that.
//   run    the participant's role until the rank's pass is finished (every partition done and
//          no task pending), the world aborted this pass, or a bounded wait expired.
//   leave  every participant counts itself out; the last one writes the routing record and the
//          losses into the pass's outputs and publishes done_epoch.
// Nothing here throws for a peer that is late or gone: a wait that expires returns
// Outcome::timed_out with what it waited for — the caller records it and then raises the world's
// abort for the pass —, an abort raised elsewhere returns Outcome::aborted; the host turns those
// into errors.
#pragma once

#include <type_traits>

#include "portable/atomics.hpp"
#include "portable/group.hpp"
#include "runtime/processor.hpp"
#include "runtime/subscriber.hpp"

#if !defined(__CUDA_ARCH__)
#include <chrono>
#include <thread>
#endif

namespace flashmoe::runtime {

enum class Scheduling : std::uint8_t { shared, dedicated };

// What one participant is.
struct Role {
  enum class Kind : std::uint8_t { processor, scheduler, subscriber } kind = Kind::processor;
  std::int64_t index = 0;  // processor group index, or subscriber partition
};

// How a participant's pass ended.
struct Outcome {
  enum class Kind : std::uint8_t { done, aborted, timed_out } kind = Kind::done;
  WaitDescription waited_for;  // timed_out only
};

// A processor group's place in its pass loop, read and written by the group's leader only and
// always through this reference, never held across a task: on the GPU it lives in the block's
// shared memory, since values a thread keeps in registers across the actors' calls (which may
// use every register) are spilled to local memory — 40 B per thread in the fp64 kernel, as
// ptxas reported before it moved there. On the CPU any storage does.
struct ProcessorCursor {
  std::int64_t index = 0;       // the processor group's index (its mailbox, its first partition)
  std::uint64_t taken = 0;      // dedicated scheduling: tasks taken from the mailbox so far
  std::int64_t idle_since = 0;  // when the group last went idle (the hooks' idle intervals)
  int attempt = 0;              // idle attempts since the last progress (the back-off)
};

// Per-pass settings of the program that the layer fixes.
struct ProgramSettings {
  Scheduling scheduling = Scheduling::shared;
  std::int64_t timeout_ns = 60'000'000'000;  // a rank idle this long (nothing runs, nothing
                                             // arrives) is stuck on a peer
};

// Records where a participant's time went; the CPU host records stats and a trace, the device
// records nothing.
struct NoHooks {
  FLASHMOE_HOST_DEVICE void task(TaskKind, std::int64_t, std::int64_t) {}
  FLASHMOE_HOST_DEVICE void subscriber(std::int64_t, std::int64_t) {}
  FLASHMOE_HOST_DEVICE void idle(std::int64_t, std::int64_t) {}
  FLASHMOE_HOST_DEVICE void leave(std::int64_t) {}
};

// Processor groups, and with dedicated roles the scheduler and one subscriber per partition.
FLASHMOE_HOST_DEVICE inline std::int64_t participants(const LayerShape& shape,
                                                      const ProgramSettings& settings) {
  return shape.processor_groups +
         (settings.scheduling == Scheduling::dedicated ? 1 + shape.subscriber_partitions : 0);
}

namespace program_detail {

// Zero-fills `bytes` bytes at `p` (8-byte aligned), members taking words in turn.
template <typename Group>
FLASHMOE_HOST_DEVICE inline void zero_bytes(const Group& g, std::byte* p, std::size_t bytes) {
  auto* words = reinterpret_cast<std::uint64_t*>(p);
  const auto count = static_cast<std::int64_t>(bytes / 8);
  portable::for_my_share(g, 0, count, [&](std::int64_t i) { words[i] = 0; });
  if (g.leader())
    for (std::size_t b = static_cast<std::size_t>(count) * 8; b < bytes; ++b) p[b] = std::byte{0};
}

template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE inline void zero_region(const RankState<T, Transport>& s, const Group& g,
                                             const Region& region) {
  zero_bytes(g, s.private_area + region.offset, region.bytes);
}

// `count` storage values widened to the accumulation type, members taking values in turn.
template <typename T, typename Group>
FLASHMOE_HOST_DEVICE inline void widen(const Group& g, const T* from, accumulate_t<T>* to,
                                       std::int64_t count) {
  portable::for_my_share(g, 0, count, [&](std::int64_t i) {
    to[i] = static_cast<accumulate_t<T>>(to_float(from[i]));
  });
}

// Bounded wait of a leader on a rank-private word of its own rank's program; false when it
// expired or the world aborted the pass meanwhile.
template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE inline bool wait_for_at_least(const RankState<T, Transport>& s, const Group& g,
                                                   std::uint64_t& word, std::uint64_t value,
                                                   std::int64_t timeout_ns) {
  const std::int64_t start = g.now_ns();
  for (int attempt = 0; portable::load_acquire<Scope::rank>(word) < value; ++attempt) {
    if (g.now_ns() - start > timeout_ns || s.aborted()) return false;
    g.idle(attempt);
  }
  return true;
}

// Group 0's part of entering a pass: everything the rank owns for one pass starts afresh, and
// the first tasks are queued. Runs while no other participant of the rank is in a pass.
template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline void begin_pass(const RankState<T, Transport>& s, const Group& g) {
  const WorkspaceLayout& l = s.layout;
  zero_region(s, g, l.control);
  zero_region(s, g, l.subscriber_partitions);
  zero_region(s, g, l.queue_published);
  zero_region(s, g, l.tile_scheduled);
  zero_region(s, g, l.packet_seen);
  zero_region(s, g, l.expert_packets_seen);
  zero_region(s, g, l.row_tile_progress);
  // Peers add to this rank's arrival counters only in answer to this pass's packets, which
  // have not been sent yet: the values read now are where this pass's arrivals start.
  std::uint64_t* base = s.template own<std::uint64_t>(l.arrival_base);
  portable::for_my_share(g, 0, s.active_token_tiles, [&](std::int64_t tile) {
    base[tile] =
        s.transport.signal_fetch(s.forward() ? l.combine_counter(tile) : l.dx_counter(tile));
  });
  if constexpr (!std::is_same_v<T, accumulate_t<T>>) {
    const std::int64_t L = s.local_experts(), H = s.hidden(), R = s.w1_rows();
    if (s.forward()) {
      if (s.io.b1 != nullptr) widen(g, s.io.b1, s.template own<accumulate_t<T>>(l.b1_acc), L * R);
      if (s.io.b2 != nullptr) widen(g, s.io.b2, s.template own<accumulate_t<T>>(l.b2_acc), L * H);
    } else {
      widen(g, s.io.wg, s.template own<accumulate_t<T>>(l.wg_acc), s.experts() * H);
    }
  }
  if (!s.forward()) {
    std::uint32_t* pending = s.template own<std::uint32_t>(l.expert_pending);
    portable::for_my_share(g, 0, s.local_experts(), [&](std::int64_t e) { pending[e] = 1; });
  }
  g.sync();
  if (!g.leader()) return;
  portable::store_relaxed<Scope::rank>(s.pass_words().last_progress_ns,
                                       static_cast<std::uint64_t>(g.now_ns()));
  const std::int64_t tiles = s.active_token_tiles;
  const TaskKind first = s.forward() ? TaskKind::gate_tile : TaskKind::gate_gradient_tile;
  for (std::int64_t tile = 0; tile < tiles; ++tile)
    schedule(s, Task{first, 0, 0, static_cast<std::int32_t>(tile), 0});
  if (tiles == 0) schedule(s, Task{s.forward() ? TaskKind::route : TaskKind::announce_gradients});
}

// The last participant to leave: the routing record and the losses into the pass's outputs.
template <typename T, typename Transport>
FLASHMOE_HOST_DEVICE inline void write_forward_record(const RankState<T, Transport>& s) {
  using Acc = accumulate_t<T>;
  const WorkspaceLayout& l = s.layout;
  const std::int64_t slots = s.tokens * s.top_k();
  const std::int32_t* topk_index = s.template own<std::int32_t>(l.topk_index);
  const Acc* topk_weight = s.template own<Acc>(l.topk_weight);
  const std::uint8_t* kept = s.template own<std::uint8_t>(l.kept);
  for (std::int64_t i = 0; i < slots; ++i) {
    if (s.io.topk_index != nullptr) s.io.topk_index[i] = topk_index[i];
    if (s.io.topk_weight != nullptr) s.io.topk_weight[i] = topk_weight[i];
    if (s.io.kept != nullptr) s.io.kept[i] = kept[i];
  }
  const std::int64_t* routed = s.template own<std::int64_t>(l.routed);
  const std::int64_t* accepted = s.template own<std::int64_t>(l.accepted);
  for (std::int64_t e = 0; e < s.experts(); ++e) {
    if (s.io.routed != nullptr) s.io.routed[e] = routed[e];
    if (s.io.accepted != nullptr) s.io.accepted[e] = accepted[e];
  }
  if (s.io.losses != nullptr) {
    s.io.losses[0] = s.control().aux_loss;
    s.io.losses[1] = s.control().z_loss;
  }
}

// A task finished: the progress stamp that keeps the rank from counting as stuck.
template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE inline void note_progress(const RankState<T, Transport>& s, const Group& g) {
  portable::store_relaxed<Scope::rank>(s.pass_words().last_progress_ns,
                                       static_cast<std::uint64_t>(g.now_ns()));
}

// A rank with nothing queued or running and nothing arriving for the timeout is stuck on a
// peer (a task in flight is progress however long it takes).
template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE inline bool stuck(const RankState<T, Transport>& s, const Group& g,
                                       const ProgramSettings& settings) {
  return portable::load_acquire<Scope::rank>(s.control().pending_tasks) == 0 &&
         g.now_ns() - static_cast<std::int64_t>(
                          portable::load_relaxed<Scope::rank>(s.pass_words().last_progress_ns)) >
             settings.timeout_ns;
}

// Gives up. The caller reports what was missing and only then raises the world's abort for the
// pass (so that whoever sees the abort finds the error already recorded).
FLASHMOE_HOST_DEVICE inline Outcome give_up(const WaitDescription& waited_for) {
  return {Outcome::Kind::timed_out, waited_for};
}

// Shared roles: the stuck leader describes the first thing any partition still waits for,
// holding every partition (their holders let go quickly; a holder that does not is stuck too).
template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE inline WaitDescription describe_rank_wait(const RankState<T, Transport>& s,
                                                               const Group& g) {
  const std::int64_t S = s.layout.shape.subscriber_partitions;
  for (std::int64_t p = 0; p < S; ++p)
    for (int attempt = 0; !try_lock_partition(s, p); ++attempt) g.idle(attempt);
  WaitDescription d;
  for (std::int64_t p = 0;
       p < S && d.what != WaitDescription::What::packet && d.what != WaitDescription::What::rows;
       ++p)
    d = describe_partition_wait(s, p);
  for (std::int64_t p = 0; p < S; ++p) unlock_partition(s, p);
  return d;
}

// One step of a processor group's leader: what the whole group does next.
struct Step {
  enum class Action : std::uint32_t { again, run, leave, timed_out } action = Action::again;
  Task task;
};

template <typename T, typename Transport, typename Group, typename Hooks>
FLASHMOE_HOST_DEVICE FLASHMOE_DEVICE_NOINLINE inline Step next_step(
    const RankState<T, Transport>& s, const Group& g, const ProgramSettings& settings,
    ProcessorCursor& cursor, Hooks& hooks) {
  Step step;
  if (s.aborted()) {
    step.action = Step::Action::leave;
    return step;
  }
  if (settings.scheduling == Scheduling::dedicated) {
    Mailbox& box = s.mailbox(cursor.index);
    if (portable::load_acquire<Scope::rank>(box.posted) > cursor.taken) {
      step.action = Step::Action::run;
      step.task = box.task;
      return step;
    }
  } else if (s.queue().try_pop(step.task)) {
    step.action = Step::Action::run;
    return step;
  }
  if (pass_finished(s)) {
    step.action = Step::Action::leave;
    return step;
  }
  if (settings.scheduling == Scheduling::shared) {
    const std::int64_t S = s.layout.shape.subscriber_partitions;
    for (std::int64_t i = 0; i < S; ++i) {
      const std::int64_t p = (cursor.index + i) % S;
      if (!try_lock_partition(s, p)) continue;
      const std::int64_t start = g.now_ns();
      bool produced = false;
#if !defined(__CUDA_ARCH__)
      try {
        produced = poll_partition(s, p);
      } catch (...) {
        unlock_partition(s, p);
        throw;
      }
#else
      produced = poll_partition(s, p);
#endif
      unlock_partition(s, p);
      hooks.subscriber(start, g.now_ns());
      if (produced) {
        note_progress(s, g);
        cursor.attempt = 0;
        return step;  // again: the new tasks are in the queue
      }
    }
    if (stuck(s, g, settings)) {
      step.action = Step::Action::timed_out;
      return step;
    }
  }
  g.idle(cursor.attempt++);
  return step;
}

#if !defined(__CUDA_ARCH__)
// Test hook (host only): the chosen rank's weight-gradient tasks take a while, so its peers run
// ahead into their next pass while it still reads this pass's received rows.
template <typename T, typename Transport>
inline void maybe_slow_down(const RankState<T, Transport>& s, TaskKind kind) {
  if (kind == TaskKind::weight_grad_up && s.faults.slows(s.rank, FaultInjection::SlowAt::dw1_tasks))
    std::this_thread::sleep_for(std::chrono::duration<double>(s.faults.slow_seconds));
}
#endif

template <typename T, typename Transport, typename Group, typename Hooks>
FLASHMOE_HOST_DEVICE inline Outcome run_processor(const RankState<T, Transport>& s, const Group& g,
                                                  const ProgramSettings& settings,
                                                  std::int64_t index,
                                                  const GroupScratch<T>& scratch, Hooks& hooks,
                                                  ProcessorCursor& cursor) {
  if (g.leader()) {
    cursor.index = index;
    cursor.taken = portable::load_relaxed<Scope::rank>(s.mailbox(index).taken);
    cursor.idle_since = g.now_ns();
    cursor.attempt = 0;
  }
  for (;;) {
    Step step;
    if (g.leader()) step = next_step(s, g, settings, cursor, hooks);
    step = g.broadcast(step);
    if (step.action == Step::Action::again) continue;
    if (step.action == Step::Action::leave) break;
    if (step.action == Step::Action::timed_out) {
      if (!g.leader()) return {Outcome::Kind::aborted, {}};
      return give_up(describe_rank_wait(s, g));
    }
    const std::int64_t start = g.now_ns();
    if (g.leader()) hooks.idle(cursor.idle_since, start);
#if !defined(__CUDA_ARCH__)
    if (g.leader()) maybe_slow_down(s, step.task.kind);
#endif
    execute_task(s, g, step.task, scratch);
    if (g.leader()) {
      const std::int64_t end = g.now_ns();
      hooks.task(step.task.kind, start, end);
      note_progress(s, g);
      finish_task(s);
      if (settings.scheduling == Scheduling::dedicated)
        portable::store_release<Scope::rank>(s.mailbox(cursor.index).taken, ++cursor.taken);
      cursor.idle_since = end;
      cursor.attempt = 0;
    }
  }
  if (g.leader()) hooks.idle(cursor.idle_since, g.now_ns());
  return {s.aborted() ? Outcome::Kind::aborted : Outcome::Kind::done, {}};
}

// The dedicated scheduler: moves ready tasks into idle processor groups' mailboxes, round
// robin, until the rank's pass is finished.
template <typename T, typename Transport, typename Group>
FLASHMOE_HOST_DEVICE inline Outcome run_scheduler(const RankState<T, Transport>& s,
                                                  const Group& g) {
  const std::int64_t groups = s.layout.shape.processor_groups;
  const TaskQueue queue = s.queue();
  std::int64_t next = 0;
  bool holding = false;
  Task task;
  for (int attempt = 0;;) {
    if (s.aborted()) return {Outcome::Kind::aborted, {}};
    if (!holding) holding = queue.try_pop(task);
    if (holding) {
      for (std::int64_t i = 0; i < groups && holding; ++i) {
        Mailbox& box = s.mailbox((next + i) % groups);
        // posted has one writer (this loop); the group raises taken once it ran the task.
        if (portable::load_acquire<Scope::rank>(box.taken) != box.posted) continue;
        box.task = task;
        portable::store_release<Scope::rank>(box.posted, box.posted + 1);
        next = (next + i + 1) % groups;
        holding = false;
        attempt = 0;
      }
      if (!holding) continue;
    } else if (pass_finished(s)) {
      return {Outcome::Kind::done, {}};
    }
    g.idle(attempt++);
  }
}

// A dedicated subscriber: sweeps its own partition until every arrival of it is subscribed.
template <typename T, typename Transport, typename Group, typename Hooks>
FLASHMOE_HOST_DEVICE inline Outcome run_subscriber(const RankState<T, Transport>& s, const Group& g,
                                                   const ProgramSettings& settings,
                                                   std::int64_t partition, Hooks& hooks) {
  for (int attempt = 0;;) {
    if (s.aborted()) return {Outcome::Kind::aborted, {}};
    const std::int64_t start = g.now_ns();
    const bool produced = poll_partition(s, partition);
    hooks.subscriber(start, g.now_ns());
    if (portable::load_acquire<Scope::rank>(s.partition(partition).done) != 0)
      return {Outcome::Kind::done, {}};
    if (produced) {
      note_progress(s, g);
      attempt = 0;
      continue;
    }
    if (stuck(s, g, settings)) return give_up(describe_partition_wait(s, partition));
    g.idle(attempt++);
  }
}

}  // namespace program_detail

// Counts the participant out of its pass; the last one writes the pass's record and publishes
// done_epoch. Everything the participant wrote about the pass (its outcome, its statistics) must
// be written before: the host may read it as soon as done_epoch is published. Also the way out
// of a pass that failed on the host (after the group recovered).
template <typename T, typename Transport, typename Group, typename Hooks>
FLASHMOE_HOST_DEVICE inline void leave_pass(const RankState<T, Transport>& s, const Group& g,
                                            const ProgramSettings& settings, Hooks& hooks) {
  g.sync();
  if (!g.leader()) return;
  hooks.leave(g.now_ns());
  PassWords& words = s.pass_words();
  const std::uint64_t total = static_cast<std::uint64_t>(participants(s.layout.shape, settings)) *
                              static_cast<std::uint64_t>(s.epoch);
  if (portable::fetch_add_acq_rel<Scope::rank>(words.groups_left, std::uint64_t{1}) + 1 != total)
    return;
  if (s.forward() && !s.aborted()) program_detail::write_forward_record(s);
  g.publish(words.done_epoch, static_cast<std::uint64_t>(s.epoch));
}

// Enters the pass (group 0 resets and opens it, the others wait) and runs the participant's
// role; the caller reports the outcome and then calls leave_pass. Collective over the group.
// `scratch` is the group's block and `cursor` its loop's state (processor groups only).
template <typename T, typename Transport, typename Group, typename Hooks>
FLASHMOE_HOST_DEVICE inline Outcome run_pass(const RankState<T, Transport>& s, const Group& g,
                                             const ProgramSettings& settings, const Role& role,
                                             const GroupScratch<T>& scratch, Hooks& hooks,
                                             ProcessorCursor& cursor) {
  using namespace program_detail;
  PassWords& words = s.pass_words();
  const bool opener = role.kind == Role::Kind::processor && role.index == 0;
  Outcome outcome;
  std::uint64_t entered = 1;
  if (opener) {
    if (g.leader())
      entered = wait_for_at_least(s, g, words.done_epoch, s.epoch - 1, settings.timeout_ns) ? 1 : 0;
    entered = g.broadcast(entered);
    if (entered != 0) {
      begin_pass(s, g);
      if (g.leader())
        portable::store_release<Scope::rank>(words.begun_epoch, std::uint64_t{s.epoch});
    }
  } else {
    if (g.leader())
      entered = wait_for_at_least(s, g, words.begun_epoch, s.epoch, settings.timeout_ns) ? 1 : 0;
    entered = g.broadcast(entered);
  }
  if (entered == 0) {
    if (s.aborted()) return {Outcome::Kind::aborted, {}};
    WaitDescription d;
    d.what = WaitDescription::What::own_participants;  // the rank's own never moved on
    outcome = give_up(d);
  } else if (role.kind == Role::Kind::processor) {
    outcome = run_processor(s, g, settings, role.index, scratch, hooks, cursor);
  } else if (role.kind == Role::Kind::scheduler) {
    outcome = run_scheduler(s, g);
  } else {
    outcome = run_subscriber(s, g, settings, role.index, hooks);
  }
  return outcome;
}

}  // namespace flashmoe::runtime
