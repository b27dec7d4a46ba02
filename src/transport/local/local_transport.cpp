#include "transport/local/local_transport.hpp"

#include <new>

#include "flashmoe/error.hpp"

namespace flashmoe::transport {

LocalWorld::LocalWorld(int world_size, std::size_t bytes_per_rank, bool zero_fill)
    : world_size_(world_size), bytes_per_rank_(bytes_per_rank) {
  FLASHMOE_CHECK(world_size >= 1, "local world: world_size = ", world_size, ", must be ≥ 1");
  const std::size_t bytes = bytes_per_rank == 0 ? 64 : bytes_per_rank;
  for (int rank = 0; rank < world_size; ++rank) {
    auto* raw = static_cast<std::byte*>(::operator new[](bytes, std::align_val_t{64}));
    if (zero_fill) std::memset(raw, 0, bytes);
    storage_.emplace_back(raw);
    pointers_.push_back(raw);
  }
}

}  // namespace flashmoe::transport
