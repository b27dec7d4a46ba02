// The configuration format of FlashDMoE, the seed system (github.com/osayamenja/FlashMoE):
// integer-coded enums and model-level keys, e.g.
//   {"capacity_factor": 1, "drop_tokens": 1, "expert_top_k": 2, "global_batch": 256,
//    "is_training": 0, "hidden_act": 0, "hidden_size": 1024, "intermediate_size": 4096,
//    "mini_batch": 1, "moe_frequency": 1, "num_experts": 64, "num_layers": 1,
//    "sequence_len": 8192, "torch_dtype": 1, "vocab_size": 32000}
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "flashmoe/config.hpp"

namespace flashmoe::config_detail {

// True when the object carries a key only the FlashDMoE format has (hidden_size, num_experts,
// expert_top_k, ...): flashmoe's own keys never collide with these.
bool is_flashdmoe_object(const nlohmann::json& object);

// Maps a FlashDMoE object onto a Config (fields the format lacks keep flashmoe's defaults),
// the tokens per rank and the backward flag. Does not validate ranges.
LoadedConfig config_from_flashdmoe(const nlohmann::json& object, std::string_view source);

}  // namespace flashmoe::config_detail
