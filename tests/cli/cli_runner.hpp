// Runs the built `flashmoe` executable with arguments and captures its exit status and output.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "../io/temp_dir.hpp"

namespace flashmoe::testing {

struct CliResult {
  int status = -1;  // exit status; -1 when the process did not exit normally (a crash)
  std::string out;  // stdout
  std::string err;  // stderr
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// `arguments` is passed through the shell as written (the tests use plain words and paths);
// `shell_prefix` goes before the command (environment assignments, or "ulimit -v N;").
inline CliResult run_flashmoe(const std::string& arguments, const std::string& shell_prefix = "") {
  const TempDir capture;
  const std::string command = shell_prefix + " " + std::string(FLASHMOE_EXE) + " " + arguments + " >'" +
                              (capture / "out").string() + "' 2>'" + (capture / "err").string() +
                              "'";
  const int raw = std::system(command.c_str());
  CliResult result;
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  result.out = slurp(capture / "out");
  result.err = slurp(capture / "err");
  return result;
}

// The command's exit statuses for refused input (docs/cli.md, "Exit status").
constexpr int kError = 1;  // a configuration, file or input refused
constexpr int kUsage = 2;  // a malformed command line

// The command exits with `status` (so no signal ended it), says `message` on stderr and prints
// nothing on stdout.
inline void expect_refusal(const std::string& arguments, int status, const std::string& message,
                           const std::string& shell_prefix = "") {
  const CliResult r = run_flashmoe(arguments, shell_prefix);
  EXPECT_EQ(r.status, status) << arguments << "\n" << r.err;
  EXPECT_NE(r.err.find(message), std::string::npos)
      << arguments << "\nexpected in stderr: " << message << "\nstderr: " << r.err;
  EXPECT_EQ(r.out, "") << arguments;
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// Small shapes keep every run in milliseconds.
inline const std::string kSmall = "--hidden 32 --ffn 48 --experts 4 --top_k 2";

}  // namespace flashmoe::testing
