// Scenario "exchange": the data path the engine will use, checked byte by byte.
// Each epoch (pass), every rank puts a provenance-encoded packet of rows into every rank's
// buffer (itself included) — from two sender threads, so MPI_THREAD_MULTIPLE is exercised —
// then signals the row count (epoch << 32 | rows, as the engine's dispatch signal) and adds its
// contribution to a counter on every rank. Receivers poll, check every byte of every row, check
// the counter's exact sum, and acknowledge with signal_add on the sender's "consumed" counter;
// a sender reuses the buffers of the next epoch only after every receiver's acknowledgement,
// which tests buffer reuse across passes without any barrier. Under the messages delivery it also
// checks the batching: a packet's rows travel in the message of the signal that publishes them.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "scenarios.hpp"
#include "transport/mpi/mpi_wait.hpp"
#include "transport/mpi/mpi_world.hpp"

namespace flashmoe::mpi_test {
namespace {

using transport::MpiTransport;
using transport::MpiWorld;
using transport::wait_for_signal;
using transport::WaitSubject;

constexpr std::size_t kRowBytes = 1028;  // not a multiple of 8: puts need no alignment
constexpr int kMaxRows = 9;
constexpr int kEpochs = 4;
constexpr int kSenderThreads = 2;
constexpr double kTimeoutS = 10.0;

// The symmetric buffer: [source rank][row] packets, then one signal word per source rank, the
// sum counter and the consumed counter.
struct ExchangeLayout {
  int world_size = 0;
  std::size_t row(int source, int row_index) const {
    return (static_cast<std::size_t>(source) * kMaxRows + static_cast<std::size_t>(row_index)) *
           kRowBytes;
  }
  std::size_t signal(int source) const {
    const std::size_t rows_end = row(world_size, 0);
    return (rows_end + 63) / 64 * 64 + static_cast<std::size_t>(source) * sizeof(std::uint64_t);
  }
  std::size_t sum_counter() const { return signal(world_size); }
  std::size_t consumed_counter() const { return sum_counter() + sizeof(std::uint64_t); }
  std::size_t bytes() const { return consumed_counter() + sizeof(std::uint64_t); }
};

// 0..kMaxRows rows; zero rows happen and still cost one signal.
int rows_for(int source, int dest, int epoch) {
  return (source * 7 + dest * 3 + epoch * 5) % (kMaxRows + 1);
}

std::uint64_t encode_signal(int epoch, int rows) {
  return (static_cast<std::uint64_t>(epoch) << 32) | static_cast<std::uint32_t>(rows);
}

// A row that names its origin: a header (source, dest, row, epoch) and a byte pattern of all
// five, so a row from the wrong sender, slot or pass — or a torn one — cannot pass the check.
void fill_row(std::vector<std::byte>& row, int source, int dest, int row_index, int epoch) {
  const std::int32_t header[4] = {source, dest, row_index, epoch};
  std::memcpy(row.data(), header, sizeof(header));
  for (std::size_t i = sizeof(header); i < row.size(); ++i)
    row[i] = static_cast<std::byte>(
        (source * 131 + dest * 61 + row_index * 29 + epoch * 17 + static_cast<int>(i) * 7) & 0xff);
}

void send_epoch(const MpiTransport& world, const ExchangeLayout& layout, int epoch,
                int thread_index) {
  std::vector<std::byte> staging(kRowBytes);
  for (int dest = thread_index; dest < world.world_size(); dest += kSenderThreads) {
    const int rows = rows_for(world.rank(), dest, epoch);
    for (int r = 0; r < rows; ++r) {
      // The staging row is overwritten right after put returns: put must be done with it.
      fill_row(staging, world.rank(), dest, r, epoch);
      world.put(dest, layout.row(world.rank(), r), staging.data(), kRowBytes);
    }
    world.signal(dest, layout.signal(world.rank()), encode_signal(epoch, rows),
                 portable::SignalOp::set);
    world.signal(dest, layout.sum_counter(),
                 static_cast<std::uint64_t>(world.rank() + 1) * static_cast<std::uint64_t>(epoch),
                 portable::SignalOp::add);
  }
}

void receive_epoch(const MpiTransport& world, const ExchangeLayout& layout, int epoch) {
  std::vector<std::byte> expected(kRowBytes);
  for (int source = 0; source < world.world_size(); ++source) {
    const std::string what = "packet signal of epoch " + std::to_string(epoch);
    const std::uint64_t word = wait_for_signal(
        world, layout.signal(source),
        [&](std::uint64_t v) { return (v >> 32) >= static_cast<std::uint64_t>(epoch); }, kTimeoutS,
        WaitSubject{source, what});
    const int rows = rows_for(source, world.rank(), epoch);
    expect(word == encode_signal(epoch, rows), "rank ", world.rank(), ": signal from rank ", source,
           " in epoch ", epoch, " is ", word, ", expected ", encode_signal(epoch, rows));
    for (int r = 0; r < rows; ++r) {
      fill_row(expected, source, world.rank(), r, epoch);
      const std::byte* got = world.local(layout.row(source, r));
      std::int32_t header[4] = {};
      std::memcpy(header, got, sizeof(header));
      for (std::size_t i = 0; i < kRowBytes; ++i) {
        expect(got[i] == expected[i], "rank ", world.rank(), ": row ", r, " from rank ", source,
               " in epoch ", epoch, " differs at byte ", i, " (the row says source ", header[0],
               ", dest ", header[1], ", row ", header[2], ", epoch ", header[3], ")");
      }
    }
  }
  // Exactly the adds of epochs 1..epoch: nobody can add for epoch + 1 before our ack below.
  const std::uint64_t W = static_cast<std::uint64_t>(world.world_size());
  const std::uint64_t e = static_cast<std::uint64_t>(epoch);
  const std::uint64_t expected_sum = W * (W + 1) / 2 * (e * (e + 1) / 2);
  const std::uint64_t sum = wait_for_signal(
      world, layout.sum_counter(), [&](std::uint64_t v) { return v >= expected_sum; }, kTimeoutS,
      WaitSubject{-1, "the sum counter's adds of epoch " + std::to_string(epoch)});
  expect(sum == expected_sum, "rank ", world.rank(), ": sum counter after epoch ", epoch, " is ",
         sum, ", expected ", expected_sum);
}

}  // namespace

int run_exchange(MpiSession& session) {
  const ExchangeLayout layout{session.world_size()};
  MpiWorld mpi_world(session.comm(), layout.bytes());
  const MpiTransport world = mpi_world.transport();
  const std::uint64_t W = static_cast<std::uint64_t>(world.world_size());
  for (int epoch = 1; epoch <= kEpochs; ++epoch) {
    // Every receiver has acknowledged our previous epoch: our packets in its buffer are free.
    const std::uint64_t acked_before = W * static_cast<std::uint64_t>(epoch - 1);
    const std::uint64_t consumed = wait_for_signal(
        world, layout.consumed_counter(), [&](std::uint64_t v) { return v >= acked_before; },
        kTimeoutS, WaitSubject{-1, "acknowledgements of epoch " + std::to_string(epoch - 1)});
    expect(consumed == acked_before, "rank ", world.rank(), ": ", consumed,
           " acknowledgements before epoch ", epoch, ", expected ", acked_before);

    // Receiving runs concurrently with this rank's own sending. A failure in any thread is
    // rethrown here after every thread has joined.
    std::vector<std::exception_ptr> failures(kSenderThreads + 1);
    std::vector<std::thread> senders;
    for (int t = 0; t < kSenderThreads; ++t)
      senders.emplace_back([&, t] {
        try {
          send_epoch(world, layout, epoch, t);
        } catch (...) {
          failures[static_cast<std::size_t>(t)] = std::current_exception();
        }
      });
    try {
      receive_epoch(world, layout, epoch);
    } catch (...) {
      failures.back() = std::current_exception();
    }
    for (std::thread& sender : senders) sender.join();
    for (const std::exception_ptr& failure : failures)
      if (failure) std::rethrow_exception(failure);
    for (int source = 0; source < world.world_size(); ++source)
      world.signal(source, layout.consumed_counter(), 1, portable::SignalOp::add);
  }
  wait_for_signal(
      world, layout.consumed_counter(),
      [&](std::uint64_t v) { return v >= W * static_cast<std::uint64_t>(kEpochs); }, kTimeoutS,
      WaitSubject{-1, "acknowledgements of the last epoch"});

  // Per epoch and peer: the rows with their packet signal, the sum's add, the acknowledgement —
  // three messages, however many rows; one message per put would exceed it.
  const std::uint64_t sent = mpi_world.messages_sent();
  if (mpi_world.delivery() == transport::MpiDelivery::messages) {
    const std::uint64_t bound = 3 * static_cast<std::uint64_t>(kEpochs) * (W - 1);
    expect(sent <= bound, "rank ", world.rank(), ": ", sent, " messages for ", kEpochs,
           " epochs, expected at most ", bound, " (rows must ride with their signal)");
  }
  mpi_world.barrier();
  if (world.rank() == 0)
    std::printf("exchange OK: %d ranks, %d epochs, every row checked byte by byte (delivery %s, "
                "%llu messages sent by rank 0)\n",
                world.world_size(), kEpochs, transport::delivery_name(mpi_world.delivery()),
                static_cast<unsigned long long>(sent));
  return 0;
}

}  // namespace flashmoe::mpi_test
