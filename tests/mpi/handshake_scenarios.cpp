// Scenarios "config_mismatch" and "size_mismatch": set-up disagreements are caught
// collectively, and every rank gets the same error naming what differs and where (SPEC §6).
// Each rank checks its own error, so the job exits 0 exactly when every rank saw the right one.
#include <cstdio>
#include <string>

#include "flashmoe/config.hpp"
#include "scenarios.hpp"
#include "transport/mpi/config_handshake.hpp"
#include "transport/mpi/mpi_world.hpp"

namespace flashmoe::mpi_test {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

int run_config_mismatch(MpiSession& session) {
  const int rank = session.rank();
  Config config;
  transport::check_same_config(session.comm(), config);  // equal configurations pass

  const int odd_rank = session.world_size() / 2;  // rank 1 of 2, rank 2 of 4
  if (rank == odd_rank) config.top_k = 3;
  std::string message;
  try {
    transport::check_same_config(session.comm(), config);
  } catch (const Error& error) {
    message = error.what();
  }
  expect(!message.empty(), "rank ", rank, ": no error although rank ", odd_rank, " has top_k = 3");
  expect(contains(message, "top_k: 2 vs 3"), "rank ", rank,
         ": the error does not name top_k: ", message);
  expect(contains(message, "rank " + std::to_string(odd_rank) + " differs from rank 0"), "rank ",
         rank, ": the error does not name rank ", odd_rank, ": ", message);
  expect(contains(message, "ranks with another: " + std::to_string(odd_rank) + " "), "rank ", rank,
         ": the error does not list the differing ranks: ", message);
  std::printf("rank %d saw the expected error: %s\n", rank, message.c_str());
  return 0;
}

int run_size_mismatch(MpiSession& session) {
  const int rank = session.rank();
  const std::size_t bytes = 4096 + (rank == 1 ? 64 : 0);
  std::string message;
  try {
    transport::MpiWorld world(session.comm(), bytes);
  } catch (const Error& error) {
    message = error.what();
  }
  expect(contains(message, "ranks disagree on bytes_per_rank") &&
             contains(message, "rank 0: 4096, rank 1: 4160"),
         "rank ", rank, ": expected the size mismatch to be reported, got: '", message, "'");
  // The refusal happened before any window existed: a correct world can still be built.
  transport::MpiWorld world(session.comm(), 4096);
  world.barrier();
  std::printf("rank %d saw the expected error: %s\n", rank, message.c_str());
  return 0;
}

}  // namespace flashmoe::mpi_test
