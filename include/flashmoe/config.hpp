// Config: everything that defines an MoE layer, chosen at run time (no rebuilds).
// Field names are the JSON keys and the command-line override names (`--top_k 2` or
// `top_k=2`). Validation follows SPEC §6: a refusal names the key, the value and what is allowed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flashmoe/types.hpp"

namespace flashmoe {

struct Config {
  std::int64_t hidden = 1024;     // H
  std::int64_t ffn = 1024;        // P, expert intermediate size
  std::int64_t experts = 16;      // E, total over all ranks; E % world_size == 0
  std::int64_t top_k = 2;         // k, 1 ≤ k ≤ min(E, 16)
  double capacity_factor = 1.25;  // C_r = ceil(capacity_factor · S_r · k / E), clamped
  bool drop_tokens = true;        // false: dropless, C_r = S_r
  Activation activation = Activation::gelu;
  bool bias = false;              // b1, b2 present
  bool normalize_weights = true;  // renormalise the top-k probabilities to sum to 1
  DType dtype = DType::fp32;
  bool allow_tf32 = false;         // GPU only: tf32 tensor cores for fp32 GEMMs
  std::int64_t max_tokens = 4096;  // per-rank token bound that sizes the buffers
  bool aux_loss = false;           // report the Switch load-balance loss
  bool z_loss = false;             // report the router z-loss
  double wait_timeout_s = 60.0;    // bounded waits on peers fail after this many seconds

  // Derived sizes.
  std::int64_t w1_rows() const { return is_gated(activation) ? 2 * ffn : ffn; }
  std::int64_t local_experts(int world_size) const { return experts / world_size; }

  bool operator==(const Config&) const = default;
};

// The largest top_k accepted (SPEC §1).
inline constexpr std::int64_t kMaxTopK = 16;

// Throws flashmoe::Error naming the first invalid field, its value and what is allowed.
// world_size is checked against experts (E % W == 0); pass 1 when it is not known yet.
void validate(const Config& config, int world_size = 1);

// Names of every configuration key, in declaration order (for --help and suggestions).
const std::vector<std::string_view>& config_keys();

// Sets one field from its textual value ("2", "true", "swiglu", "1.25"); throws naming the key
// and the accepted values on a bad value, and suggests the nearest key for an unknown one.
void set_config_field(Config& config, std::string_view key, std::string_view value);

// JSON text of every field (stable key order), and the parse of such text. Unknown keys are
// refused with the nearest valid key suggested; malformed JSON is reported with its position.
std::string config_to_json(const Config& config);
Config config_from_json(std::string_view json_text, std::string_view source_name = "<json>");

// A run description taken from a FlashDMoE configuration file (the seed system's format:
// hidden_size, intermediate_size, num_experts, expert_top_k, capacity_factor, drop_tokens,
// hidden_act, torch_dtype, sequence_len, mini_batch, is_training, ...).
struct LoadedConfig {
  Config config;
  std::optional<std::int64_t> tokens_per_rank;  // FlashDMoE: sequence_len × mini_batch
  std::optional<bool> backward;                 // FlashDMoE: is_training
  std::vector<std::string> ignored_keys;        // accepted but unused keys (vocab_size, ...)
  bool flashdmoe_format = false;
};

// Reads a configuration file in either format (detected by its keys) and validates it.
LoadedConfig load_config_file(const std::string& path);
LoadedConfig parse_config_text(std::string_view json_text, std::string_view source_name);

// A stable 64-bit hash of every field, compared across ranks at set-up (SPEC §6).
std::uint64_t config_hash(const Config& config);
// The first field in which a and b differ, or empty when they are equal.
std::string first_differing_field(const Config& a, const Config& b);

// Human-readable one-screen summary.
std::string describe(const Config& config);

}  // namespace flashmoe
