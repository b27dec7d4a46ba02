// flashmoe_cuda_bench's driver (src/bench/cuda): on a GPU, the quick grid runs, the engine and
// the unfused cuBLAS baseline agree on every row, and both results files are written with one
// row per grid point; without one, it refuses at once with exit status 1 and the reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "bench/cuda/cuda_bench.hpp"
#include "engine/cuda/cuda_layer.hpp"

namespace flashmoe::testing {
namespace {

namespace fs = std::filesystem;

fs::path fresh_folder(const std::string& name) {
  const fs::path folder = fs::temp_directory_path() / ("flashmoe-" + name);
  fs::remove_all(folder);
  return folder;
}

TEST(CudaBench, QuickGridAgreesWithTheUnfusedBaselineAndWritesBothFiles) {
  if (const std::string why = cuda::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  bench::cuda::CudaBenchOptions o;
  o.tokens = {300, 1024};  // 300: partial token tiles
  o.experts = {8};
  o.dtypes = {"bf16", "fp16", "tf32"};
  o.hidden = o.ffn = 256;
  o.repeats = 1;
  o.out = fresh_folder("cuda-bench").string();
  ASSERT_EQ(bench::cuda::run_cuda_bench(o, "test"), 0);
  std::vector<fs::path> json;
  for (const auto& entry : fs::directory_iterator(o.out))
    if (entry.path().extension() == ".json") json.push_back(entry.path());
  ASSERT_EQ(json.size(), 1u);
  const nlohmann::json results = nlohmann::json::parse(std::ifstream(json[0]));
  ASSERT_EQ(results["rows"].size(), 4u);
  for (const auto& row : results["rows"]) {
    EXPECT_TRUE(row["agrees"].get<bool>()) << row.dump();
    EXPECT_EQ(row["kept_slots_engine"], row["kept_slots_unfused"]) << row.dump();
    EXPECT_GT(row["engine_forward_s"].get<double>(), 0.0);
    EXPECT_GT(row["ceiling_flops_per_s"].get<double>(), 0.0);
  }
  fs::path md = json[0];
  EXPECT_TRUE(fs::exists(md.replace_extension(".md")));
}

TEST(CudaBench, WithoutAUsableGpuSaysWhyAndReturnsOne) {
  const std::string why = cuda::unavailable_reason();
  if (why.empty()) GTEST_SKIP() << "a GPU is usable here (the quick-grid test runs instead)";
  bench::cuda::CudaBenchOptions o;
  o.out = fresh_folder("cuda-bench-refused").string();
  ::testing::internal::CaptureStderr();
  const int status = bench::cuda::run_cuda_bench(o, "test");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(status, 1);
  EXPECT_NE(err.find("cannot run here: " + why), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(o.out)) << "nothing is written when nothing can run";
}

}  // namespace
}  // namespace flashmoe::testing
