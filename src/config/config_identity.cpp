// Identity of a configuration: the hash ranks compare at set-up (SPEC §6), the name of the
// first field that differs when they disagree, and a human summary.
#include <cstdint>
#include <sstream>
#include <string>

#include "config/config_fields.hpp"
#include "config/text_values.hpp"
#include "flashmoe/config.hpp"

namespace flashmoe {

std::uint64_t config_hash(const Config& config) {
  // FNV-1a over "key=value\n" for every field in table order. The canonical value text is
  // exact (shortest round-trip doubles), so the hash is the same on every rank, compiler and
  // run whenever the fields are equal.
  constexpr std::uint64_t kOffsetBasis = 14695981039346656037ull;
  constexpr std::uint64_t kPrime = 1099511628211ull;
  std::uint64_t hash = kOffsetBasis;
  const auto absorb = [&](std::string_view text) {
    for (const char c : text) {
      hash ^= static_cast<unsigned char>(c);
      hash *= kPrime;
    }
  };
  for (const auto& field : config_detail::config_fields()) {
    absorb(field.key);
    absorb("=");
    absorb(config_detail::field_value_text(config, field));
    absorb("\n");
  }
  return hash;
}

std::string first_differing_field(const Config& a, const Config& b) {
  for (const auto& field : config_detail::config_fields()) {
    const std::string left = config_detail::field_value_text(a, field);
    const std::string right = config_detail::field_value_text(b, field);
    if (left != right) return std::string(field.key) + ": " + left + " vs " + right;
  }
  return {};
}

std::string describe(const Config& c) {
  using config_detail::format_double;
  const auto on_off = [](bool flag) { return flag ? "on" : "off"; };
  std::ostringstream out;
  out << "MoE layer: hidden H=" << c.hidden << ", ffn P=" << c.ffn << ", experts E=" << c.experts
      << ", top_k k=" << c.top_k << "\n";
  out << "  expert FFN: activation " << to_string(c.activation) << " (w1 rows " << c.w1_rows()
      << "), bias " << on_off(c.bias) << "\n";
  out << "  routing: normalize_weights " << on_off(c.normalize_weights) << ", ";
  if (c.drop_tokens) {
    out << "capacity_factor " << format_double(c.capacity_factor)
        << " (slots beyond capacity drop)";
  } else {
    out << "dropless (drop_tokens off)";
  }
  out << "\n";
  out << "  precision: dtype " << to_string(c.dtype);
  if (c.allow_tf32) out << " with tf32 GEMMs";
  out << "; max_tokens " << c.max_tokens << " per rank\n";
  out << "  losses: aux_loss " << on_off(c.aux_loss) << ", z_loss " << on_off(c.z_loss)
      << "; peer wait timeout " << format_double(c.wait_timeout_s) << " s\n";
  return out.str();
}

}  // namespace flashmoe
