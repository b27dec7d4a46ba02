#include "runtime/layer_setup.hpp"

#include <algorithm>

#include "flashmoe/error.hpp"
#include "math/capacity.hpp"

namespace flashmoe::runtime {

LayerShape layer_shape(const Config& config, int world_size, std::size_t storage_bytes,
                       std::size_t accumulate_bytes, std::int64_t processor_groups,
                       std::int64_t group_size, std::int64_t subscriber_partitions) {
  LayerShape shape;
  shape.world_size = world_size;
  shape.experts = config.experts;
  shape.local_experts = config.local_experts(world_size);
  shape.top_k = config.top_k;
  shape.hidden = config.hidden;
  shape.ffn = config.ffn;
  shape.w1_rows = config.w1_rows();
  shape.max_tokens = config.max_tokens;
  shape.packet_capacity = std::max<std::int64_t>(
      1, math::expert_capacity(config.max_tokens, config.top_k, config.experts,
                               config.capacity_factor, config.drop_tokens));
  shape.storage_bytes = storage_bytes;
  shape.accumulate_bytes = accumulate_bytes;
  shape.processor_groups = processor_groups;
  shape.group_size = group_size;
  shape.subscriber_partitions = subscriber_partitions;
  return shape;
}

LayerSettings layer_settings(const Config& config) {
  return {config.activation,        is_gated(config.activation), config.bias,
          config.normalize_weights, config.drop_tokens,          config.capacity_factor,
          config.allow_tf32};
}

std::string timeout_message(int rank, double timeout_s, PassKind pass, std::uint32_t epoch,
                            const WaitDescription& d) {
  using What = WaitDescription::What;
  const bool forward = pass == PassKind::forward;
  std::string what;
  switch (d.what) {
    case What::packet:
      what =
          detail::concat("the ", forward ? "dispatch" : "gradient (dy)", " packet of local expert ",
                         d.expert, " from rank ", d.source, " (signal epoch ", epoch, ")");
      break;
    case What::rows:
      what =
          detail::concat("the returned ", forward ? "expert output (y)" : "input gradient (dx)",
                         " rows of token tile ", d.tile, " (tokens ", d.first_token, "..",
                         d.last_token, "): ", d.arrived, " of ", d.expected, " row blocks arrived");
      break;
    case What::own_participants:
      what = "its own program's other participants to leave the previous pass or open this one";
      break;
    case What::tasks:
    case What::nothing:
      what = detail::concat(d.pending, " unfinished tasks of its own");
      break;
  }
  return detail::concat("rank ", rank, " timed out after ", timeout_s, " s in the ",
                        forward ? "forward" : "backward", " pass waiting for ", what);
}

}  // namespace flashmoe::runtime
