#include "cli/mpi_arguments.hpp"

#include <algorithm>
#include <vector>

#include "transport/mpi/config_handshake.hpp"

namespace flashmoe::cli {

void check_same_arguments(MPI_Comm comm, const ParsedArgs& args, std::string_view what) {
  std::vector<transport::NamedValue> settings;
  for (const ParsedOption& option : args.options) {
    // The last occurrence wins, as ParsedArgs::value reads it.
    const auto same = std::find_if(settings.begin(), settings.end(),
                                   [&](const auto& s) { return s.name == option.name; });
    if (same != settings.end())
      same->value = option.value;
    else
      settings.push_back({option.name, option.value});
  }
  std::sort(settings.begin(), settings.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  transport::check_same_options(comm, settings, what);
}

}  // namespace flashmoe::cli
