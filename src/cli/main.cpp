// The `flashmoe` executable: dispatches to a subcommand and turns every failure into a message
// and an exit status (docs/cli.md). Nothing escapes as an uncaught exception.
#include <iostream>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/help_text.hpp"
#include "cli/suggest.hpp"
#include "cli/usage_error.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe::cli {
namespace {

struct Subcommand {
  std::string_view name;
  int (*run)(const Args&);
  std::string (*help)();  // nullptr: the command prints its own --help
};

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> table{
      {"run", &run_command, &run_help},
      {"gradcheck", &gradcheck_command, &gradcheck_help},
      {"bench", &bench_command, nullptr},
  };
  return table;
}

const Subcommand* find_subcommand(std::string_view name) {
  for (const Subcommand& command : subcommands())
    if (command.name == name) return &command;
  return nullptr;
}

std::vector<std::string> subcommand_names() {
  std::vector<std::string> names{"help"};
  for (const Subcommand& command : subcommands()) names.emplace_back(command.name);
  return names;
}

int usage_error(std::string_view command, const std::string& message) {
  const std::string prefix = command.empty() ? "flashmoe" : "flashmoe " + std::string(command);
  std::cerr << prefix << ": error: " << message << '\n'
            << "Try '" << prefix << " --help' for more information.\n";
  return kExitUsage;
}

int help_command(const Args& args) {
  if (args.empty()) {
    std::cout << main_help();
    return kExitOk;
  }
  const Subcommand* command = find_subcommand(args.front());
  if (command == nullptr)
    return usage_error(
        "", "no command '" + args.front() + "'" + did_you_mean(args.front(), subcommand_names()));
  if (command->help != nullptr) {
    std::cout << command->help();
    return kExitOk;
  }
  return command->run({"--help"});
}

int dispatch(const Args& args) {
  if (args.empty()) {
    std::cerr << main_help();
    return kExitUsage;
  }
  const std::string& name = args.front();
  const Args rest(args.begin() + 1, args.end());
  if (name == "-h" || name == "--help") return help_command({});
  if (name == "help") return help_command(rest);
  if (name == "--version") {
    std::cout << version_text();
    return kExitOk;
  }
  const Subcommand* command = find_subcommand(name);
  if (command == nullptr)
    return usage_error("", (name.starts_with("-") ? "unknown option '" : "unknown command '") +
                               name + "'" + did_you_mean(name, subcommand_names()));
  try {
    return command->run(rest);
  } catch (const UsageError& e) {
    return usage_error(name, e.what());
  }
}

}  // namespace
}  // namespace flashmoe::cli

int main(int argc, char** argv) {
  using namespace flashmoe::cli;
  try {
    return dispatch(Args(argv + 1, argv + argc));
  } catch (const UsageError& e) {
    return usage_error("", e.what());
  } catch (const flashmoe::Error& e) {
    std::cerr << "flashmoe: error: " << e.what() << '\n';
  } catch (const std::bad_alloc&) {
    std::cerr << "flashmoe: error: out of memory (try fewer tokens or a smaller layer)\n";
  } catch (const std::exception& e) {
    std::cerr << "flashmoe: error: " << e.what() << '\n';
  }
  return kExitError;
}
