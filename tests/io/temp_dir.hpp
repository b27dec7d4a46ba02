// A fresh directory per test under the system temp folder, removed when the test ends.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace flashmoe::testing {

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // Process id, test name and a counter: unique even for several directories in one test.
    static int counter = 0;
    // (Built by appending: GCC 12 reports a false -Wrestrict for "_" + std::string(...).)
    std::string name = "flashmoe_test_";
    name += std::to_string(::getpid());
    name += '_';
    name += std::to_string(counter++);
    if (info != nullptr) {
      name += '_';
      name += info->test_suite_name();
      name += '_';
      name += info->name();
    }
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace flashmoe::testing
