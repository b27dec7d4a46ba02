// Configuration files: read, detect the format by its keys, parse, validate.
#include <cstddef>

#include "common/bounded_file.hpp"
#include "config/config_json.hpp"
#include "config/flashdmoe_format.hpp"
#include "config/json_document.hpp"
#include "flashmoe/config.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe {
namespace {

// A configuration of every key, in either format, is under 1 KiB; a file a thousand times
// larger is not a configuration, and reading it whole (a 200 MB file, /dev/zero) would only
// spend memory before saying so.
constexpr std::size_t kMaxConfigFileBytes = std::size_t{1} << 20;

}  // namespace

LoadedConfig parse_config_text(std::string_view json_text, std::string_view source_name) {
  using namespace config_detail;
  const nlohmann::json object = parse_json_object(json_text, source_name);
  LoadedConfig loaded;
  if (is_flashdmoe_object(object)) {
    loaded = config_from_flashdmoe(object, source_name);
  } else {
    loaded.config = config_from_json_object(object, source_name);
  }
  // The world size is not known yet; the caller validates again with it.
  try {
    validate(loaded.config, 1);
  } catch (const Error& error) {
    // Validation speaks flashmoe's keys; say which FlashDMoE keys they came from.
    const char* mapping = loaded.flashdmoe_format
                              ? " (FlashDMoE format; hidden_size → hidden, intermediate_size → "
                                "ffn, num_experts → experts, expert_top_k → top_k, "
                                "sequence_len × mini_batch → max_tokens)"
                              : "";
    throw Error(std::string(source_name) + mapping + ": " + error.what());
  }
  return loaded;
}

LoadedConfig load_config_file(const std::string& path) {
  const std::string text = read_bounded_file(path, "configuration file", kMaxConfigFileBytes,
                                             "a configuration holds a few dozen keys");
  return parse_config_text(text, path);
}

}  // namespace flashmoe
