#include "config/flashdmoe_format.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "config/json_document.hpp"
#include "config/text_values.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe::config_detail {
namespace {

// Keys that carry something flashmoe uses.
constexpr std::array<std::string_view, 11> kMappedKeys{
    "hidden_size",     "intermediate_size", "num_experts", "expert_top_k",
    "capacity_factor", "drop_tokens",       "hidden_act",  "torch_dtype",
    "sequence_len",    "mini_batch",        "is_training"};
// Keys of the seed's files that describe the surrounding model or job, not one MoE layer:
// accepted and reported in LoadedConfig::ignored_keys, never an error.
constexpr std::array<std::string_view, 4> kIgnoredKeys{"global_batch", "moe_frequency",
                                                       "num_layers", "vocab_size"};
// Keys whose presence marks the FlashDMoE format (none is a flashmoe key).
constexpr std::array<std::string_view, 7> kMarkerKeys{
    "hidden_size", "intermediate_size", "num_experts", "expert_top_k",
    "hidden_act",  "torch_dtype",       "sequence_len"};

bool contains(std::span<const std::string_view> keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

class Reader {
 public:
  Reader(const nlohmann::json& object, std::string_view source)
      : object_(object), source_(source) {}

  bool has(std::string_view key) const { return object_.contains(std::string(key)); }

  std::int64_t integer(std::string_view key) const {
    const nlohmann::json& value = at(key);
    if (!value.is_number_integer() ||
        (value.is_number_unsigned() &&
         value.get<std::uint64_t>() >
             static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
      fail(key, value, "an integer");
    }
    return value.get<std::int64_t>();
  }

  double number(std::string_view key) const {
    const nlohmann::json& value = at(key);
    if (!value.is_number()) fail(key, value, "a number");
    return value.get<double>();
  }

  // The seed writes flags as 0/1 integers; true/false are accepted as well.
  bool flag(std::string_view key) const {
    const nlohmann::json& value = at(key);
    if (value.is_boolean()) return value.get<bool>();
    if (value.is_number_integer() && (value == 0 || value == 1)) return value == 1;
    fail(key, value, "0 or 1 (or true/false)");
  }

  // An integer enum code in [0, names.size()); names[i] is what code i means.
  std::size_t code(std::string_view key, std::span<const std::string_view> names) const {
    const nlohmann::json& value = at(key);
    std::string allowed;
    for (std::size_t i = 0; i < names.size(); ++i)
      allowed += (i == 0 ? "" : ", ") + std::to_string(i) + " (" + std::string(names[i]) + ")";
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
        value.get<std::int64_t>() >= static_cast<std::int64_t>(names.size())) {
      fail(key, value, "one of the codes " + allowed);
    }
    return value.get<std::size_t>();
  }

  [[noreturn]] void fail(std::string_view key, const nlohmann::json& value,
                         std::string_view expected) const {
    FLASHMOE_FAIL(source_, " (FlashDMoE format): key '", key, "' has value ",
                  json_value_text(value), " (", json_type_name(value), "); expected ", expected);
  }

 private:
  const nlohmann::json& at(std::string_view key) const { return object_.at(std::string(key)); }

  const nlohmann::json& object_;
  std::string_view source_;
};

// Refuses keys the format does not have, suggesting the nearest FlashDMoE key; a flashmoe key
// gets a message of its own, since mixing the two formats is the likely mistake.
void check_keys(const nlohmann::json& object, std::string_view source) {
  std::vector<std::string_view> known(kMappedKeys.begin(), kMappedKeys.end());
  known.insert(known.end(), kIgnoredKeys.begin(), kIgnoredKeys.end());
  std::string_view marker;
  for (std::string_view key : kMarkerKeys) {
    if (object.contains(std::string(key))) {
      marker = key;
      break;
    }
  }
  for (const auto& item : object.items()) {
    const std::string& key = item.key();
    if (contains(known, key)) continue;
    const auto& flashmoe_keys = config_keys();
    if (std::find(flashmoe_keys.begin(), flashmoe_keys.end(), key) != flashmoe_keys.end()) {
      FLASHMOE_FAIL("key '", key, "' in ", source, " is a flashmoe key, but the file is in the ",
                    "FlashDMoE format (it has '", marker, "'); use one format per file");
    }
    FLASHMOE_FAIL(unknown_key_message(key, std::string(source) + " (FlashDMoE format)", known));
  }
}

}  // namespace

bool is_flashdmoe_object(const nlohmann::json& object) {
  return std::any_of(kMarkerKeys.begin(), kMarkerKeys.end(),
                     [&](std::string_view key) { return object.contains(std::string(key)); });
}

LoadedConfig config_from_flashdmoe(const nlohmann::json& object, std::string_view source) {
  check_keys(object, source);
  const Reader in(object, source);
  LoadedConfig loaded;
  loaded.flashdmoe_format = true;
  Config& c = loaded.config;

  if (in.has("hidden_size")) c.hidden = in.integer("hidden_size");
  if (in.has("intermediate_size")) c.ffn = in.integer("intermediate_size");
  if (in.has("num_experts")) c.experts = in.integer("num_experts");
  if (in.has("expert_top_k")) c.top_k = in.integer("expert_top_k");
  // The seed's schema says integer ≥ 1; any positive number means the same here.
  if (in.has("capacity_factor")) c.capacity_factor = in.number("capacity_factor");
  if (in.has("drop_tokens")) c.drop_tokens = in.flag("drop_tokens");

  if (in.has("hidden_act")) {
    constexpr std::array<std::string_view, 2> kNames{"relu", "gelu"};
    constexpr std::array<Activation, 2> kValues{Activation::relu, Activation::gelu};
    c.activation = kValues[in.code("hidden_act", kNames)];
  }
  if (in.has("torch_dtype")) {
    // Code 1 is tf32: fp32 storage whose GEMMs may use tf32 tensor cores.
    constexpr std::array<std::string_view, 4> kNames{"fp32", "tf32", "bf16", "fp16"};
    constexpr std::array<DType, 4> kValues{DType::fp32, DType::fp32, DType::bf16, DType::fp16};
    const std::size_t code = in.code("torch_dtype", kNames);
    c.dtype = kValues[code];
    c.allow_tf32 = code == 1;
  }

  // Tokens per rank = sequence_len × mini_batch; buffers are sized for exactly that many.
  if (in.has("mini_batch") && !in.has("sequence_len")) {
    FLASHMOE_FAIL(source, " (FlashDMoE format): key 'mini_batch' needs 'sequence_len' ",
                  "(tokens per rank = sequence_len × mini_batch)");
  }
  if (in.has("sequence_len")) {
    const std::int64_t sequence_len = in.integer("sequence_len");
    const std::int64_t mini_batch = in.has("mini_batch") ? in.integer("mini_batch") : 1;
    constexpr std::int64_t kMaxTokens = std::numeric_limits<std::int32_t>::max();
    if (sequence_len < 1 || sequence_len > kMaxTokens)
      in.fail("sequence_len", object.at("sequence_len"), "1 ≤ sequence_len ≤ 2147483647");
    if (mini_batch < 1 || mini_batch > kMaxTokens / sequence_len) {
      in.fail("mini_batch", object.at("mini_batch"),
              "mini_batch ≥ 1 with sequence_len × mini_batch ≤ 2147483647 tokens per rank");
    }
    loaded.tokens_per_rank = sequence_len * mini_batch;
    c.max_tokens = *loaded.tokens_per_rank;
  }
  if (in.has("is_training")) loaded.backward = in.flag("is_training");

  for (std::string_view key : kIgnoredKeys)
    if (in.has(key)) loaded.ignored_keys.emplace_back(key);
  return loaded;
}

}  // namespace flashmoe::config_detail
