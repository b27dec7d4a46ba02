// Subcommands of the `flashmoe` executable. Each takes the arguments after its name and returns
// the process exit code; errors are reported on stderr by main (flashmoe::Error → exit 1,
// usage errors → exit 2).
#pragma once

#include <string>
#include <vector>

namespace flashmoe::cli {

using Args = std::vector<std::string>;

int run_command(const Args& args);        // flashmoe run        (src/cli/run_command.cpp)
int gradcheck_command(const Args& args);  // flashmoe gradcheck  (src/cli/gradcheck_command.cpp)
int bench_command(const Args& args);      // flashmoe bench      (src/cli/bench_command.cpp)

}  // namespace flashmoe::cli
