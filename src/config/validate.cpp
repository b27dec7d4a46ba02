// validate(): the refusals of SPEC §6. Each message names the key, the value and what is
// allowed, so a user can fix the file or the override without reading the source.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "config/text_values.hpp"
#include "flashmoe/config.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe {
namespace {

// Sizes and token counts index int32 routing records (topk_idx) and int-sized kernel
// dimensions, so each must fit in int32.
constexpr std::int64_t kMaxDimension = std::numeric_limits<std::int32_t>::max();
// Upper bound on the elements of any one buffer (2^40 elements = 4 TiB in fp32). Far above any
// real MoE layer; its purpose is to refuse absurd sizes whose byte counts would overflow.
constexpr std::int64_t kMaxElements = std::int64_t{1} << 40;
// capacity_factor above this changes nothing (C_r is clamped to S_r long before) and keeps
// capacity_factor · S_r · k far inside the exactly representable integers of a double.
constexpr double kMaxCapacityFactor = 1e6;
// Longer waits would be indistinguishable from a hang; 1e6 s converts to int64 nanoseconds
// without overflow.
constexpr double kMaxWaitTimeoutS = 1e6;

// FLASHMOE_CHECK would append the C++ condition to the message; a configuration error is read
// by users, for whom the key, value and allowed range are the whole story.
template <typename... Parts>
void require(bool ok, const Parts&... parts) {
  if (!ok) FLASHMOE_FAIL(parts...);
}

// a · b, or nullopt when the product does not fit in int64 (all inputs are positive here).
std::optional<std::int64_t> checked_product(std::int64_t a, std::int64_t b) {
  if (a != 0 && b > std::numeric_limits<std::int64_t>::max() / a) return std::nullopt;
  return a * b;
}

std::string product_text(std::optional<std::int64_t> product) {
  return product ? std::to_string(*product) : std::string("more than 2^63");
}

void check_dimension(std::string_view key, std::string_view symbol, std::int64_t value) {
  require(value >= 1 && value <= kMaxDimension, key, " (", symbol, ") = ", value,
          " is invalid: allowed 1 ≤ ", key, " ≤ ", kMaxDimension);
}

void check_buffer_sizes(const Config& c) {
  // Expert weights w1 (and w2, no larger): experts × w1_rows × hidden elements over all ranks.
  const auto weights = [&]() -> std::optional<std::int64_t> {
    const auto rows = checked_product(c.experts, c.w1_rows());
    return rows ? checked_product(*rows, c.hidden) : std::nullopt;
  }();
  require(weights && *weights <= kMaxElements, "expert weights too large: experts (E=", c.experts,
          ") × w1 rows (", c.w1_rows(),
          is_gated(c.activation) ? " = 2·ffn, gated activation" : " = ffn",
          ") × hidden (H=", c.hidden, ") = ", product_text(weights),
          " elements; allowed at most 2^40 = ", kMaxElements, " (reduce experts, ffn or hidden)");

  // Per-rank buffers hold up to max_tokens · top_k dispatched rows of width hidden (inputs and
  // outputs) or w1_rows (intermediate activations).
  const std::int64_t width = std::max(c.hidden, c.w1_rows());
  const auto rows = checked_product(c.max_tokens, c.top_k);
  const auto buffer = rows ? checked_product(*rows, width) : std::nullopt;
  require(buffer && *buffer <= kMaxElements, "per-rank buffers too large: max_tokens (",
          c.max_tokens, ") × top_k (", c.top_k, ") × max(hidden, w1 rows) (", width,
          ") = ", product_text(buffer), " elements; allowed at most 2^40 = ", kMaxElements,
          " (reduce max_tokens, top_k, hidden or ffn)");
}

}  // namespace

void validate(const Config& c, int world_size) {
  using config_detail::format_double;
  require(world_size >= 1, "world size = ", world_size, " is invalid: must be ≥ 1");
  check_dimension("hidden", "H", c.hidden);
  check_dimension("ffn", "P", c.ffn);
  check_dimension("experts", "E", c.experts);
  require(c.experts % world_size == 0, "experts (E=", c.experts,
          ") must be divisible by the world size (", world_size,
          "): each rank owns E/W experts; allowed: a multiple of ", world_size);

  const std::int64_t max_top_k = std::min(c.experts, kMaxTopK);
  require(c.top_k >= 1 && c.top_k <= max_top_k, "top_k (k) = ", c.top_k,
          " is invalid: allowed 1 ≤ top_k ≤ min(experts, ", kMaxTopK, ") = ", max_top_k);

  require(std::isfinite(c.capacity_factor) && c.capacity_factor > 0 &&
              c.capacity_factor <= kMaxCapacityFactor,
          "capacity_factor = ", format_double(c.capacity_factor),
          " is invalid: allowed a finite number with 0 < capacity_factor ≤ ",
          static_cast<std::int64_t>(kMaxCapacityFactor));

  require(c.max_tokens >= 1 && c.max_tokens <= kMaxDimension, "max_tokens = ", c.max_tokens,
          " is invalid: allowed 1 ≤ max_tokens ≤ ", kMaxDimension);

  require(std::isfinite(c.wait_timeout_s) && c.wait_timeout_s > 0 &&
              c.wait_timeout_s <= kMaxWaitTimeoutS,
          "wait_timeout_s = ", format_double(c.wait_timeout_s),
          " is invalid: allowed a finite number of seconds with 0 < wait_timeout_s ≤ ",
          static_cast<std::int64_t>(kMaxWaitTimeoutS));

  // Enums are checked too: a Config built in code may hold a value cast from an integer.
  require(c.activation <= Activation::geglu, "activation = ", static_cast<int>(c.activation),
          " is invalid: allowed ", activation_names());
  require(c.dtype <= DType::fp16, "dtype = ", static_cast<int>(c.dtype), " is invalid: allowed ",
          dtype_names());

  // tf32 is a tensor-core input format for fp32 GEMMs only; with any other dtype the flag
  // would be silently meaningless (or, with fp64 gradient checks, harmful), so refuse it.
  require(!c.allow_tf32 || c.dtype == DType::fp32,
          "allow_tf32 = true is invalid with dtype = ", to_string(c.dtype),
          ": tf32 applies only to fp32 GEMMs; allowed: allow_tf32 = "
          "false, or dtype = fp32");

  check_buffer_sizes(c);
}

}  // namespace flashmoe
