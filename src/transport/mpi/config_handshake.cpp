#include "transport/mpi/config_handshake.hpp"

#include <algorithm>
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

// Every rank's hash compared with rank 0's (one allgather; every rank gets the same lists).
struct Agreement {
  int rank = 0, world_size = 0;
  std::vector<int> agreeing, differing;  // ranks whose hash equals / differs from rank 0's
};

Agreement compare_hashes(MPI_Comm comm, std::uint64_t mine) {
  Agreement a;
  FLASHMOE_MPI(MPI_Comm_rank(comm, &a.rank));
  FLASHMOE_MPI(MPI_Comm_size(comm, &a.world_size));
  std::vector<std::uint64_t> hashes(static_cast<std::size_t>(a.world_size));
  FLASHMOE_MPI(MPI_Allgather(&mine, 1, MPI_UINT64_T, hashes.data(), 1, MPI_UINT64_T, comm));
  for (int r = 0; r < a.world_size; ++r)
    (hashes[static_cast<std::size_t>(r)] == hashes[0] ? a.agreeing : a.differing).push_back(r);
  return a;
}

// FNV-1a over the encoded options: equal encodings give equal hashes on every rank (unlike
// std::hash, which may differ between builds of a job's processes).
std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

// name \x1f value \x1e ... (separators that no command-line text contains).
std::string encode(const std::vector<NamedValue>& options) {
  std::string text;
  for (const NamedValue& o : options) text += o.name + '\x1f' + o.value + '\x1e';
  return text;
}

std::vector<NamedValue> decode(const std::string& text) {
  std::vector<NamedValue> options;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t unit = text.find('\x1f', at), end = text.find('\x1e', at);
    if (unit == std::string::npos || end == std::string::npos || unit > end) break;
    options.push_back({text.substr(at, unit - at), text.substr(unit + 1, end - unit - 1)});
    at = end + 1;
  }
  return options;
}

const std::string* find_value(const std::vector<NamedValue>& options, const std::string& name) {
  for (const NamedValue& o : options)
    if (o.name == name) return &o.value;
  return nullptr;
}

std::string shown(const std::string* value) {
  return value == nullptr ? std::string("absent") : "'" + *value + "'";
}

}  // namespace

void check_same_options(MPI_Comm comm, const std::vector<NamedValue>& options,
                        std::string_view what) {
  const std::string mine = encode(options);
  const auto [rank, world_size, agreeing, differing] = compare_hashes(comm, fnv1a(mine));
  if (differing.empty()) return;

  // As in check_same_config: every rank saw the same hashes, so all gather and all throw.
  const std::vector<std::string> texts = gather_texts(comm, mine, world_size);
  const int other = differing.front();
  const std::vector<NamedValue> first = decode(texts[0]);
  const std::vector<NamedValue> second = decode(texts[static_cast<std::size_t>(other)]);
  std::string field = "no option (equal options, different hashes)";
  std::vector<std::string> names;
  for (const auto* list : {&first, &second})
    for (const NamedValue& o : *list) names.push_back(o.name);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string *a = find_value(first, name), *b = find_value(second, name);
    if ((a == nullptr) != (b == nullptr) || (a != nullptr && *a != *b)) {
      field = detail::concat("--", name, ": ", shown(a), " on rank 0, ", shown(b), " on rank ",
                             other);
      break;
    }
  }
  FLASHMOE_FAIL(what, " differ across ranks (every process of the job must be given the same): ",
                field, "; ranks with rank 0's ", what, ": ", rank_list(agreeing),
                "; ranks with others: ", rank_list(differing), " (seen on rank ", rank, " of ",
                world_size, ")");
}

void check_same_config(MPI_Comm comm, const Config& config) {
  const auto [rank, world_size, agreeing, differing] = compare_hashes(comm, config_hash(config));
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
