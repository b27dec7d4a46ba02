// `flashmoe` end to end: run → save → load → check, gradcheck, help and version.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli_runner.hpp"
#include "flashmoe/config.hpp"
#include "io/npy.hpp"
#include "io/run_layout.hpp"

namespace flashmoe::testing {
namespace {

namespace fs = std::filesystem;

TEST(CliEndToEnd, RunSaveLoadCheck) {
  const TempDir dir;
  const std::string saved = (dir / "run").string();
  const CliResult run = run_flashmoe("run --backend reference --ranks 2 --tokens 24,17 " + kSmall +
                                     " --bias --backward --d_aux 0.1 --check --save " + saved);
  ASSERT_EQ(run.status, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("tokens per rank: 24, 17"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("dropped slots:"), std::string::npos);
  EXPECT_NE(run.out.find("check: PASS"), std::string::npos);
  EXPECT_EQ(run.err, "");

  // Every file of the documented layout, and nothing else.
  std::vector<std::string> expected{"meta.json", "wg.npy"};
  for (const std::string rank : {"rank0/", "rank1/"})
    for (const char* name : {"x", "out", "topk_idx", "topk_weight", "kept", "losses", "w1", "w2",
                             "b1", "b2", "dout", "dx", "dwg", "dw1", "dw2", "db1", "db2"})
      expected.push_back(rank + name + ".npy");
  std::vector<std::string> written;
  for (const auto& entry : fs::recursive_directory_iterator(saved))
    if (entry.is_regular_file()) written.push_back(fs::relative(entry.path(), saved).string());
  std::sort(expected.begin(), expected.end());
  std::sort(written.begin(), written.end());
  EXPECT_EQ(written, expected);
  EXPECT_EQ(io::read_npy(saved + "/rank1/x.npy").shape(), (Shape{17, 32}));
  EXPECT_EQ(io::read_npy(saved + "/rank1/topk_idx.npy").type(), ElementType::i32);
  EXPECT_EQ(io::load_meta(saved).d_aux, 0.1);

  const CliResult load = run_flashmoe("run --load " + saved + " --check --backend reference");
  ASSERT_EQ(load.status, 0) << load.out << load.err;
  EXPECT_NE(load.out.find("check: PASS"), std::string::npos);
  EXPECT_NE(load.out.find("tokens per rank: 24, 17"), std::string::npos);
}

TEST(CliEndToEnd, HalfPrecisionRoundTripsThroughTheLayout) {
  const TempDir dir;
  const std::string saved = (dir / "run").string();
  const CliResult run =
      run_flashmoe("run --backend reference --tokens 20 " + kSmall +
                   " --dtype bf16 --activation swiglu --check --quiet --save " + saved);
  ASSERT_EQ(run.status, 0) << run.out << run.err;
  EXPECT_EQ(run.out, "check: PASS\n");
  const CliResult load =
      run_flashmoe("run --load " + saved + " --check --quiet --backend reference");
  ASSERT_EQ(load.status, 0) << load.out << load.err;
}

TEST(CliEndToEnd, ManyExpertsAreSummarised) {
  const CliResult run = run_flashmoe(
      "run --backend reference --hidden 8 --ffn 8 --experts 32 "
      "--ranks 4 --tokens 8 aux_loss=true z_loss=on");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("routed: min"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("experts by routed tokens:"), std::string::npos);
  EXPECT_NE(run.out.find("losses, rank 3: l_aux"), std::string::npos);
}

TEST(CliEndToEnd, FlashDMoEFileSetsTokensAndBackward) {
  const TempDir dir;
  const std::string file = (dir / "flashdmoe.json").string();
  std::ofstream(file) << R"({"capacity_factor": 1, "drop_tokens": 1, "expert_top_k": 2,
    "global_batch": 8, "is_training": 1, "hidden_act": 1, "hidden_size": 16,
    "intermediate_size": 24, "mini_batch": 2, "moe_frequency": 1, "num_experts": 4,
    "num_layers": 1, "sequence_len": 6, "torch_dtype": 2, "vocab_size": 100})";
  const CliResult run = run_flashmoe("run --backend reference --ranks 2 --check --config " + file);
  ASSERT_EQ(run.status, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("forward + backward"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("tokens per rank: 12, 12"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("ignored keys"), std::string::npos) << run.err;

  const CliResult forward =
      run_flashmoe("run --backend reference --backward=false --tokens 5 --config " + file);
  ASSERT_EQ(forward.status, 0) << forward.err;
  EXPECT_NE(forward.out.find("forward only"), std::string::npos);
  EXPECT_NE(forward.out.find("tokens per rank: 5"), std::string::npos);
}

TEST(CliEndToEnd, GradcheckOneActivation) {
  const CliResult run = run_flashmoe("gradcheck --activation gelu_tanh");
  ASSERT_EQ(run.status, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("gradcheck: 3 of 3 cases pass"), std::string::npos) << run.out;
}

TEST(CliEndToEnd, HelpListsEveryOptionAndKey) {
  const CliResult help = run_flashmoe("run --help");
  ASSERT_EQ(help.status, 0);
  for (const char* option :
       {"--config", "--backend", "--ranks", "--tokens", "--seed", "--backward", "--d_aux", "--d_z",
        "--check", "--save", "--load", "--workers", "--trace", "--quiet"})
    EXPECT_NE(help.out.find(option), std::string::npos) << option;
  for (std::string_view key : config_keys())
    EXPECT_NE(help.out.find("  " + std::string(key) + " "), std::string::npos) << key;
  EXPECT_NE(help.out.find("(default)"), std::string::npos);

  EXPECT_EQ(run_flashmoe("--help").status, 0);
  EXPECT_EQ(run_flashmoe("help run").out, help.out);
  const CliResult gradcheck = run_flashmoe("gradcheck --help");
  EXPECT_EQ(gradcheck.status, 0);
  EXPECT_NE(gradcheck.out.find("--activation"), std::string::npos);
  const CliResult version = run_flashmoe("--version");
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out.rfind("flashmoe ", 0), 0u);
}

}  // namespace
}  // namespace flashmoe::testing
