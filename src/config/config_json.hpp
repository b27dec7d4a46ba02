// flashmoe's own JSON format: one key per Config field, named as the field.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "flashmoe/config.hpp"

namespace flashmoe::config_detail {

// Reads the fields present in `object` over the defaults; refuses unknown keys and values of
// the wrong JSON type. Does not validate ranges (validate() does).
Config config_from_json_object(const nlohmann::json& object, std::string_view source);

}  // namespace flashmoe::config_detail
