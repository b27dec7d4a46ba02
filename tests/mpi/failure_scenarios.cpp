// Failure scenarios: a rank that raises abort, a rank that stalls, a rank that dies.
// "abort" exits 0 when every rank saw the abort (and the next pass was not aborted by it);
// "stall" and "die" must END THE JOB — non-zero status, the expected report, in bounded time,
// no process left — which expect_job_failure.sh checks from outside.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "scenarios.hpp"
#include "transport/mpi/mpi_wait.hpp"
#include "transport/mpi/mpi_world.hpp"

namespace flashmoe::mpi_test {
namespace {

using transport::MpiTransport;
using transport::MpiWorld;
using transport::wait_for_signal;
using transport::WaitSubject;

constexpr std::size_t kBytes = 4096;
constexpr int kVictim = 1;  // the rank that stalls or dies

std::size_t word_from(int source) {
  return static_cast<std::size_t>(source) * 8;
}

// One pass of the "everybody signals everybody" protocol, with a failing rank that never sends.
// `epoch` tags the pass: the abort of an earlier pass does not end this one's waits.
void signal_everyone_and_wait(const MpiTransport& world, double timeout_s,
                              std::uint32_t epoch = 1) {
  for (int dest = 0; dest < world.world_size(); ++dest)
    world.signal(dest, word_from(world.rank()), epoch, portable::SignalOp::set);
  for (int source = 0; source < world.world_size(); ++source)
    wait_for_signal(
        world, word_from(source), [epoch](std::uint64_t v) { return v == epoch; }, timeout_s,
        WaitSubject{source, "its packet signal of pass " + std::to_string(epoch)}, epoch);
}

}  // namespace

int run_abort(MpiSession& session) {
  MpiWorld mpi_world(session.comm(), kBytes);
  const MpiTransport world = mpi_world.transport();
  const int raiser = world.world_size() - 1;
  mpi_world.barrier();
  if (world.rank() == raiser) {
    world.raise_abort(1);
    expect(world.aborted(1) && world.abort_origin(1) == raiser, "rank ", world.rank(),
           ": own abort word not set after raise_abort");
  } else {
    // Waits for a word nobody writes: only the abort can end it before the 30 s timeout.
    const auto start = std::chrono::steady_clock::now();
    std::string message;
    try {
      wait_for_signal(
          world, word_from(raiser), [](std::uint64_t v) { return v != 0; }, 30.0,
          WaitSubject{raiser, "a signal that never comes"});
    } catch (const TimeoutError& error) {
      expect(false, "rank ", world.rank(),
             ": timed out instead of seeing the abort: ", error.what());
    } catch (const Error& error) {
      message = error.what();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    expect(message.find("rank " + std::to_string(raiser) + " raised abort") != std::string::npos,
           "rank ", world.rank(), ": unexpected error: ", message);
    expect(seconds < 10.0, "rank ", world.rank(), ": the abort took ", seconds, " s to arrive");
  }
  // Every rank has seen the abort before anyone starts the next pass (whose signals would
  // otherwise end a wait that is still looking for the abort).
  mpi_world.barrier();
  // The abort names its pass: the next pass (epoch 2) is not aborted, and the world works again
  // without any clearing.
  expect(world.aborted(1) && !world.aborted(2), "rank ", world.rank(),
         ": the abort of pass 1 must end pass 1's waits only");
  signal_everyone_and_wait(world, 10.0, 2);
  mpi_world.barrier();
  if (world.rank() == 0)
    std::printf("abort OK: every rank stopped waiting on rank %d's abort\n", raiser);
  return 0;
}

int run_stall(MpiSession& session) {
  MpiWorld mpi_world(session.comm(), kBytes);
  const MpiTransport world = mpi_world.transport();
  mpi_world.barrier();
  if (world.rank() == kVictim) {
    // Stalled before sending: alive, silent, never returning on its own. Only the job's end
    // (MPI_Abort from a peer that timed out) stops it; CTest's TIMEOUT catches a hang.
    std::this_thread::sleep_for(std::chrono::seconds(120));
    return 1;
  }
  signal_everyone_and_wait(world, 1.0);  // throws TimeoutError naming rank 1
  return 1;                              // unreachable when the transport works
}

int run_die(MpiSession& session) {
  MpiWorld mpi_world(session.comm(), kBytes);
  const MpiTransport world = mpi_world.transport();
  mpi_world.barrier();
  if (world.rank() == kVictim) std::raise(SIGKILL);  // dies mid-pass, before sending
  // The launcher notices the death and ends the job long before this 20 s timeout would.
  signal_everyone_and_wait(world, 20.0);
  return 1;
}

}  // namespace flashmoe::mpi_test
