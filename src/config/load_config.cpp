// Configuration files: read, detect the format by its keys, parse, validate.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config_json.hpp"
#include "config/flashdmoe_format.hpp"
#include "config/json_document.hpp"
#include "flashmoe/config.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe {

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
  std::error_code status;
  if (std::filesystem::is_directory(path, status))
    FLASHMOE_FAIL("cannot read configuration file '", path, "': it is a directory");
  std::ifstream file(path, std::ios::binary);
  if (!file) FLASHMOE_FAIL("cannot read configuration file '", path, "': ", std::strerror(errno));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) FLASHMOE_FAIL("error while reading configuration file '", path, "'");
  return parse_config_text(text.str(), path);
}

}  // namespace flashmoe
