// One participant of a rank's program on the CPU — a processor group (one thread per member),
// or a dedicated scheduler or subscriber — as a body its threads run for the layer's whole life:
// wait for the next pass, run it (runtime::run_pass), record what went wrong, repeat. The
// portable program never throws for a late or missing peer; this is where its outcomes and the
// host-side exceptions (oneDNN errors, broken invariants) become the errors the host rethrows.
#pragma once

#include <cstdint>
#include <exception>
#include <string>

#include "common/test_fault.hpp"
#include "common/wait.hpp"
#include "engine/pass_channel.hpp"
#include "flashmoe/error.hpp"
#include "platform/cpu/thread_group.hpp"
#include "platform/cpu/trace.hpp"
#include "runtime/layer_setup.hpp"
#include "runtime/program.hpp"

namespace flashmoe::engine {

// Records a participant's time into its stats for the running pass (the leader's thread only).
class StatsHooks {
 public:
  StatsHooks(ParticipantStats& into, bool tracing, int rank, int participant, const char* pass)
      : into_(&into), tracing_(tracing), rank_(rank), participant_(participant), pass_(pass) {}
  void task(runtime::TaskKind kind, std::int64_t start, std::int64_t end) {
    into_->stats.task_seconds[static_cast<std::size_t>(kind)] +=
        static_cast<double>(end - start) * 1e-9;
    if (tracing_)
      into_->stats.events.push_back(
          {runtime::task_name(kind), start, end - start, rank_, participant_, pass_});
  }
  void subscriber(std::int64_t start, std::int64_t end) {
    into_->stats.subscriber_seconds += static_cast<double>(end - start) * 1e-9;
  }
  void idle(std::int64_t start, std::int64_t end) {
    into_->stats.idle_seconds += static_cast<double>(end - start) * 1e-9;
  }
  void leave(std::int64_t now) { into_->end_ns = now; }

 private:
  ParticipantStats* into_;
  bool tracing_;
  int rank_, participant_;
  const char* pass_;
};

// Everything a participant of rank `rank` needs; fixed for the layer's life.
template <typename T, typename Transport>
struct ParticipantContext {
  const runtime::RankState<T, Transport>* fixed = nullptr;  // the rank's set-up
  PassChannel<T>* channel = nullptr;
  runtime::ProgramSettings settings;
  runtime::Role role;
  std::byte* scratch = nullptr;  // the group's scratch block (processor groups)
  int rank = 0;
  int participant = 0;          // index among the rank's participants (stats, trace row)
  std::size_t stats_index = 0;  // into PassSlot::participants
  bool tracing = false;
  double timeout_s = 0.0;
};

// The body of member `group.rank()` of a participant: passes until the channel stops.
template <typename T, typename Transport>
void run_participant(const ParticipantContext<T, Transport>& c, const cpu::ThreadGroup& group) {
  const runtime::GroupScratch<T> scratch =
      c.scratch != nullptr ? runtime::group_scratch<T>(c.fixed->layout, c.scratch)
                           : runtime::GroupScratch<T>{};
  runtime::ProcessorCursor cursor;  // the leader's; each member has one, as run_pass takes it
  for (std::uint64_t epoch = 1;; ++epoch) {
    std::uint64_t go = group.leader() ? (c.channel->wait_for_pass(epoch) ? 1 : 0) : 0;
    go = group.broadcast(go);
    if (go == 0) return;
    PassSlot<T>& slot = c.channel->slot(epoch);
    const runtime::RankState<T, Transport> s = runtime::make_pass_state(
        *c.fixed, slot.descriptor, slot.bindings[static_cast<std::size_t>(c.rank)]);
    ParticipantStats& stats = slot.participants[c.stats_index];
    if (group.leader()) {
      stats = ParticipantStats{};
      stats.stats.task_seconds.assign(static_cast<std::size_t>(runtime::kTaskKinds), 0.0);
      stats.begin_ns = steady_now_ns();
      // A pass that starts after a failure does no work: it ends at once on every rank.
      if (c.channel->cancelled(epoch)) {
        slot.cancelled = true;
        s.transport.raise_abort(s.epoch);
      }
    }
    StatsHooks hooks(stats, c.tracing, c.rank, c.participant, s.forward() ? "forward" : "backward");
    try {
      throw_if_test_fault("engine_worker");
      const runtime::Outcome outcome =
          runtime::run_pass(s, group, c.settings, c.role, scratch, hooks, cursor);
      if (group.leader() && outcome.kind == runtime::Outcome::Kind::timed_out) {
        c.channel->record_error(epoch,
                                std::make_exception_ptr(TimeoutError(runtime::timeout_message(
                                    c.rank, c.timeout_s, s.pass, s.epoch, outcome.waited_for))));
        s.transport.raise_abort(s.epoch);  // every rank stops waiting for this pass
      }
    } catch (const cpu::GroupAborted&) {
      // Another member failed and records the error; leave the pass with the group.
      group.recover();
    } catch (...) {
      c.channel->record_error(epoch, std::current_exception());
      s.transport.raise_abort(s.epoch);  // every rank stops waiting for this pass
      group.fail();
      group.recover();
    }
    runtime::leave_pass(s, group, c.settings, hooks);
  }
}

}  // namespace flashmoe::engine
