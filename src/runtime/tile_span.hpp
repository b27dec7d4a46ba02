// TileSpan: the part of an extent (packet rows, output columns, weight-gradient rows) that one
// tile task covers. Every task kind cuts its extent into tiles of a fixed width (TileShape), so
// only the last tile may be partial. Integer arithmetic only: the same on host and device.
#pragma once

#include <cstdint>

#include "flashmoe/macros.hpp"

namespace flashmoe::runtime {

struct TileSpan {
  std::int64_t first = 0;  // the tile's first element in the extent
  std::int64_t count = 0;  // its elements: `width`, or fewer for the last tile
};

// Tile `index` of an extent of `total` elements cut in tiles of `width`. Tasks exist only for
// tiles that start inside the extent (index < ceil(total / width)), so count is positive.
FLASHMOE_HOST_DEVICE inline TileSpan tile_span(std::int64_t index, std::int64_t width,
                                               std::int64_t total) {
  const std::int64_t first = index * width;
  const std::int64_t rest = total - first;
  return {first, rest < width ? rest : width};
}

}  // namespace flashmoe::runtime
