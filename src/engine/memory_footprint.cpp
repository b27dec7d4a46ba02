#include "engine/memory_footprint.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "common/memory_available.hpp"
#include "engine/engine.hpp"
#include "flashmoe/error.hpp"
#include "runtime/layer_setup.hpp"

namespace flashmoe::engine {
namespace {

struct Share {
  const char* what;     // the buffers, in words
  const char* driven;   // the options that size them
  double bytes = 0.0;   // per rank
};

double sum(std::initializer_list<runtime::Region> regions) {
  double bytes = 0.0;
  for (const runtime::Region& r : regions) bytes += static_cast<double>(r.bytes);
  return bytes;
}

}  // namespace

void check_workspaces_fit(const runtime::WorkspaceLayout& l, const Config& config,
                          int world_size, int local_ranks) {
  const std::optional<MemoryAvailable> available = memory_available();
  if (!available) return;
  const double per_rank = static_cast<double>(l.symmetric_bytes + l.private_bytes);
  const double total = per_rank * local_ranks;
  if (total <= static_cast<double>(available->bytes)) return;

  std::array<Share, 3> shares{{
      {"receive packets (x, dy, z, h, dz rows for every source rank and local expert, "
       "capacity rows each)",
       "--ranks × experts × the capacity (max_tokens, capacity_factor, top_k) × hidden/ffn",
       sum({l.x_rows, l.dy_rows, l.row_origins, l.z, l.h, l.dz})},
      {"returned-row slots (y and dx, max_tokens × top_k rows)",
       "max_tokens × top_k × hidden", sum({l.y_slots, l.dx_slots})},
      {"gate buffers (logits, probabilities, widened inputs)", "max_tokens × experts, hidden",
       sum({l.logits, l.probs, l.dlogits, l.lse, l.x_acc, l.wg_acc})},
  }};
  std::sort(shares.begin(), shares.end(),
            [](const Share& a, const Share& b) { return a.bytes > b.bytes; });
  std::string parts;
  for (const Share& s : shares)
    if (s.bytes > 0.0)
      parts += detail::concat(parts.empty() ? "" : ", ", format_bytes(s.bytes), " of ", s.what);
  throw Error(detail::concat(
      "engine: the workspaces of ", local_ranks, " rank(s) in this process (of ", world_size,
      ") need ", format_bytes(total), ", more than the ", format_bytes(static_cast<double>(available->bytes)),
      " available (", available->source, "); per rank ", format_bytes(per_rank), ": ", parts,
      ". The largest share grows with ", shares[0].driven, ": lower those (this layer: ",
      config.experts, " experts, max_tokens ", config.max_tokens, ", hidden ", config.hidden,
      ", ffn ", config.ffn, ")"));
}

void check_smallest_workspaces_fit(const Config& config, int world_size, int local_ranks) {
  const EngineOptions defaults;
  const std::size_t storage_bytes = element_size(storage_type(config.dtype));
  const std::size_t accumulate_bytes = config.dtype == DType::fp64 ? 8 : 4;
  const runtime::WorkspaceLayout layout = runtime::WorkspaceLayout::compute(
      runtime::layer_shape(config, world_size, storage_bytes, accumulate_bytes, 1,
                           defaults.group_size, defaults.subscribers),
      defaults.tiles);
  check_workspaces_fit(layout, config, world_size, local_ranks);
}

}  // namespace flashmoe::engine
