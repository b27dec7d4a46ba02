// --help texts. They are generated from the same option tables the parser uses, so they cannot
// drift from what is accepted.
#pragma once

#include <string>

namespace flashmoe::cli {

std::string version_text();    // "flashmoe 0.1.0"
std::string main_help();       // flashmoe --help
std::string run_help();        // flashmoe run --help
std::string gradcheck_help();  // flashmoe gradcheck --help
// Every configuration key with its default, as `flashmoe run --help` lists them.
std::string config_keys_help();

}  // namespace flashmoe::cli
