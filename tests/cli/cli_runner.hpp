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

// Small shapes keep every run in milliseconds.
inline const std::string kSmall = "--hidden 32 --ffn 48 --experts 4 --top_k 2";

}  // namespace flashmoe::testing
