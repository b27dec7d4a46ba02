#include "transport/mpi/config_handshake.hpp"

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "flashmoe/error.hpp"
#include "transport/mpi/mpi_check.hpp"

namespace flashmoe::transport {
namespace {

// Every rank's configuration text, gathered on every rank.
std::vector<std::string> gather_texts(MPI_Comm comm, const std::string& mine, int world_size) {
  const int length = static_cast<int>(mine.size());
  std::vector<int> lengths(static_cast<std::size_t>(world_size));
  FLASHMOE_MPI(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm));
  std::vector<int> displacements(static_cast<std::size_t>(world_size));
  int total = 0;
  for (std::size_t r = 0; r < lengths.size(); ++r) {
    displacements[r] = total;
    total += lengths[r];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  FLASHMOE_MPI(MPI_Allgatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(),
                              displacements.data(), MPI_CHAR, comm));
  std::vector<std::string> texts;
  for (std::size_t r = 0; r < lengths.size(); ++r)
    texts.push_back(all.substr(static_cast<std::size_t>(displacements[r]),
                               static_cast<std::size_t>(lengths[r])));
  return texts;
}

std::string rank_list(const std::vector<int>& ranks) {
  std::ostringstream out;
  for (std::size_t i = 0; i < ranks.size(); ++i) out << (i == 0 ? "" : ", ") << ranks[i];
  return out.str();
}

}  // namespace

void check_same_config(MPI_Comm comm, const Config& config) {
  int rank = 0, world_size = 0;
  FLASHMOE_MPI(MPI_Comm_rank(comm, &rank));
  FLASHMOE_MPI(MPI_Comm_size(comm, &world_size));
  const std::uint64_t mine = config_hash(config);
  std::vector<std::uint64_t> hashes(static_cast<std::size_t>(world_size));
  FLASHMOE_MPI(MPI_Allgather(&mine, 1, MPI_UINT64_T, hashes.data(), 1, MPI_UINT64_T, comm));
  std::vector<int> agreeing, differing;  // with rank 0
  for (int r = 0; r < world_size; ++r)
    (hashes[static_cast<std::size_t>(r)] == hashes[0] ? agreeing : differing).push_back(r);
  if (differing.empty()) return;

  // Every rank reached this point with the same hashes, so all take part in the exchange and
  // all build the same message from the same gathered texts.
  const std::vector<std::string> texts = gather_texts(comm, config_to_json(config), world_size);
  const int other = differing.front();
  std::string field;
  try {
    const Config reference = config_from_json(texts[0], "rank 0's configuration");
    const Config different =
        config_from_json(texts[static_cast<std::size_t>(other)], "another rank's configuration");
    field = first_differing_field(reference, different);
  } catch (const Error& error) {
    field = std::string("a configuration that could not be read (") + error.what() + ")";
  }
  if (field.empty()) field = "no field (equal fields, different hashes: different builds?)";
  FLASHMOE_FAIL("configuration mismatch across ranks: rank ", other, " differs from rank 0 in ",
                field, "; ranks with rank 0's configuration: ", rank_list(agreeing),
                "; ranks with another: ", rank_list(differing), " (seen on rank ", rank, " of ",
                world_size, ")");
}

}  // namespace flashmoe::transport
