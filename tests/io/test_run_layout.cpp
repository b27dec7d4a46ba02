// The --save/--load layout: a saved run loads back bit for bit (every dtype), every file of the
// documented list is written, per-rank saving matches whole-run saving, and damaged layouts are
// refused with messages that name the file, the tensor, the expected and the actual value.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "flashmoe/error.hpp"
#include "io/npy.hpp"
#include "io/run_layout.hpp"
#include "reference/reference.hpp"
#include "support/tensor_compare.hpp"
#include "temp_dir.hpp"

namespace flashmoe::io {
namespace {

using test::bitwise_equal;

namespace fs = std::filesystem;

Config small_config(DType dtype, bool bias) {
  return {.hidden = 8,
          .ffn = 6,
          .experts = 4,
          .top_k = 2,
          .activation = Activation::swiglu,
          .bias = bias,
          .dtype = dtype,
          .aux_loss = true,
          .z_loss = true};
}

Problem small_problem(DType dtype = DType::fp32, bool bias = true, bool backward = true) {
  return make_random_problem(small_config(dtype, bias), 2, {5, 3}, 7, backward, 0.25, 0.5);
}

Results results_of(const Problem& p) {
  return reference::run(
      p, p.config.dtype == DType::fp64 ? reference::Precision::fp64 : reference::Precision::fp32);
}

void expect_same_problem(const Problem& a, const Problem& b) {
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.world_size, b.world_size);
  EXPECT_EQ(a.backward, b.backward);
  EXPECT_EQ(a.d_aux, b.d_aux);
  EXPECT_EQ(a.d_z, b.d_z);
  EXPECT_TRUE(bitwise_equal(a.wg, b.wg));
  ASSERT_EQ(a.ranks.size(), b.ranks.size());
  for (std::size_t r = 0; r < a.ranks.size(); ++r) {
    EXPECT_TRUE(bitwise_equal(a.ranks[r].x, b.ranks[r].x)) << r;
    EXPECT_TRUE(bitwise_equal(a.ranks[r].w1, b.ranks[r].w1)) << r;
    EXPECT_TRUE(bitwise_equal(a.ranks[r].w2, b.ranks[r].w2)) << r;
    EXPECT_TRUE(bitwise_equal(a.ranks[r].b1, b.ranks[r].b1)) << r;
    EXPECT_TRUE(bitwise_equal(a.ranks[r].b2, b.ranks[r].b2)) << r;
    EXPECT_TRUE(bitwise_equal(a.ranks[r].dout, b.ranks[r].dout)) << r;
  }
}

std::string load_error(const fs::path& dir) {
  try {
    load_problem(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string read_text(const fs::path& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

void replace_in_file(const fs::path& path, const std::string& from, const std::string& to) {
  std::string text = read_text(path);
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  write_text(path, text.replace(at, from.size(), to));
}

TEST(RunLayout, SaveThenLoadReproducesTheProblemInEveryDtype) {
  for (DType dtype : {DType::fp64, DType::fp32, DType::bf16, DType::fp16}) {
    const flashmoe::testing::TempDir dir;
    const Problem problem = small_problem(dtype);
    save_run(dir.path(), problem, results_of(problem), "reference");
    expect_same_problem(load_problem(dir.path()), problem);
    const HostTensor x = read_npy((dir / "rank0/x.npy").string());
    EXPECT_EQ(x.type(), dtype == DType::fp64 ? ElementType::f64 : ElementType::f32);
  }
}

TEST(RunLayout, LoadingOneRankReadsOnlyItsFolder) {
  const flashmoe::testing::TempDir dir;
  const Problem problem = small_problem();
  save_run(dir.path(), problem, results_of(problem), "reference");
  // Without the other rank's folder (as on a node that holds only its own rank's files).
  fs::remove_all(dir / "rank0");
  const Problem part = load_rank_problem(dir.path(), 1);
  Problem expected = problem;
  expected.ranks[0] = RankInputs{};
  expect_same_problem(part, expected);
  EXPECT_FALSE(part.ranks[0].x.defined());
  EXPECT_NO_THROW(validate_problem_rank(part, 1));
  EXPECT_THROW(load_rank_problem(dir.path(), 0), Error);  // its folder is gone
}

TEST(RunLayout, WritesExactlyTheDocumentedFiles) {
  const flashmoe::testing::TempDir dir;
  const Problem problem = small_problem();
  save_run(dir.path(), problem, results_of(problem), "reference");
  std::vector<std::string> expected{"meta.json", "wg.npy"};
  for (const std::string rank : {"rank0/", "rank1/"})
    for (const char* name : {"x", "out", "topk_idx", "topk_weight", "kept", "losses", "w1", "w2",
                             "b1", "b2", "dout", "dx", "dwg", "dw1", "dw2", "db1", "db2"})
      expected.push_back(rank + name + ".npy");
  std::vector<std::string> written;
  for (const auto& entry : fs::recursive_directory_iterator(dir.path()))
    if (entry.is_regular_file()) written.push_back(fs::relative(entry.path(), dir.path()).string());
  std::sort(expected.begin(), expected.end());
  std::sort(written.begin(), written.end());
  EXPECT_EQ(written, expected);

  std::vector<std::string> listed = layout_files(meta_of(problem, "reference"));
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, expected);
}

TEST(RunLayout, ForwardWithoutBiasHasNoGradientOrBiasFiles) {
  const flashmoe::testing::TempDir dir;
  const Problem problem = small_problem(DType::fp32, false, false);
  save_run(dir.path(), problem, results_of(problem), "reference");
  for (const char* absent : {"rank0/b1.npy", "rank0/dout.npy", "rank1/dx.npy", "rank1/db2.npy"})
    EXPECT_FALSE(fs::exists(dir / absent)) << absent;
  expect_same_problem(load_problem(dir.path()), problem);
}

TEST(RunLayout, RoutingAndOutputsLoadBack) {
  const flashmoe::testing::TempDir dir;
  const Problem problem = small_problem();
  const Results results = results_of(problem);
  save_run(dir.path(), problem, results, "reference");
  const RunMeta meta = load_meta(dir.path());
  EXPECT_EQ(meta.backend, "reference");
  EXPECT_EQ(meta.tokens, (std::vector<std::int64_t>{5, 3}));
  const Results loaded = load_results(dir.path(), meta);
  ASSERT_EQ(loaded.ranks.size(), 2u);
  for (std::size_t r = 0; r < 2; ++r) {
    const RankOutputs& a = loaded.ranks[r];
    const RankOutputs& b = results.ranks[r];
    EXPECT_TRUE(bitwise_equal(a.out, b.out.to(ElementType::f32)));
    EXPECT_TRUE(bitwise_equal(a.routing.topk_index, b.routing.topk_index));
    EXPECT_TRUE(bitwise_equal(a.routing.kept, b.routing.kept));
    EXPECT_EQ(a.routing.routed, b.routing.routed);
    EXPECT_EQ(a.routing.accepted, b.routing.accepted);
    EXPECT_FLOAT_EQ(a.aux_loss, b.aux_loss);
    EXPECT_FLOAT_EQ(a.z_loss, b.z_loss);
    EXPECT_TRUE(bitwise_equal(a.dw1, b.dw1.to(ElementType::f32)));
    EXPECT_TRUE(bitwise_equal(a.db2, b.db2.to(ElementType::f32)));
  }
}

TEST(RunLayout, PerRankSavingMatchesWholeRunSaving) {
  const flashmoe::testing::TempDir whole, pieces;
  const Problem problem = small_problem();
  const Results results = results_of(problem);
  save_run(whole.path(), problem, results, "reference");
  const RunMeta meta = meta_of(problem, "reference");
  // As separate processes would: rank 1 first, then rank 0 with the shared files.
  save_rank(pieces.path(), meta, 1, problem.ranks[1], results.ranks[1]);
  save_rank(pieces.path(), meta, 0, problem.ranks[0], results.ranks[0]);
  save_meta(pieces.path(), meta, problem.wg);
  for (const std::string& file : layout_files(meta))
    EXPECT_EQ(read_text(whole / file), read_text(pieces / file)) << file;
}

class DamagedLayout : public ::testing::Test {
 protected:
  void SetUp() override {
    problem_ = small_problem();
    save_run(dir_.path(), problem_, results_of(problem_), "reference");
  }
  flashmoe::testing::TempDir dir_;
  Problem problem_;
};

TEST_F(DamagedLayout, MissingFileIsNamed) {
  fs::remove(dir_ / "rank1/w2.npy");
  EXPECT_NE(load_error(dir_.path()).find("missing file rank1/w2.npy"), std::string::npos)
      << load_error(dir_.path());
  fs::remove(dir_ / "meta.json");
  EXPECT_NE(load_error(dir_.path()).find("missing file meta.json"), std::string::npos);
}

TEST_F(DamagedLayout, WrongShapeNamesTensorExpectedAndActual) {
  write_npy((dir_ / "rank0/x.npy").string(), HostTensor(ElementType::f32, {4, 8}));
  EXPECT_NE(load_error(dir_.path())
                .find("tensor x (rank 0): expected float32 [5, 8], got float32 [4, 8]"),
            std::string::npos)
      << load_error(dir_.path());
}

TEST_F(DamagedLayout, WrongDtypeNamesTensorExpectedAndActual) {
  write_npy((dir_ / "rank1/w1.npy").string(), HostTensor(ElementType::f64, {2, 12, 8}));
  EXPECT_NE(load_error(dir_.path())
                .find("tensor w1 (rank 1): expected float32 [2, 12, 8], got float64 [2, 12, 8]"),
            std::string::npos)
      << load_error(dir_.path());
}

TEST_F(DamagedLayout, ValuesOutsideTheDtypeAreRefused) {
  replace_in_file(dir_ / "meta.json", "\"fp32\"", "\"bf16\"");
  HostTensor x(ElementType::f32, {5, 8});
  x.set(3, 0.1);  // not a bfloat16 value
  write_npy((dir_ / "rank0/x.npy").string(), x);
  EXPECT_NE(load_error(dir_.path()).find("not exactly representable in bfloat16"),
            std::string::npos)
      << load_error(dir_.path());
}

TEST_F(DamagedLayout, MetaProblemsNameTheKey) {
  const fs::path meta = dir_ / "meta.json";
  const std::string original = read_text(meta);

  replace_in_file(meta, "\"top_k\": 2,", "");
  EXPECT_NE(load_error(dir_.path()).find("missing key 'top_k'"), std::string::npos);
  write_text(meta, original);

  replace_in_file(meta, "\"top_k\": 2", "\"top_k\": 9");
  EXPECT_NE(load_error(dir_.path()).find("top_k"), std::string::npos);
  write_text(meta, original);

  replace_in_file(meta, "\"hidden\": 8", "\"hidden\": \"eight\"");
  EXPECT_NE(load_error(dir_.path()).find("key 'hidden': expected an integer, got \"eight\""),
            std::string::npos);
  write_text(meta, original);

  replace_in_file(meta, "\"swiglu\"", "\"swish\"");
  EXPECT_NE(load_error(dir_.path()).find("'swish' is not one of"), std::string::npos);
  write_text(meta, original);

  replace_in_file(meta, "\"world_size\": 2", "\"world_size\": 4");
  EXPECT_NE(load_error(dir_.path()).find("key 'tokens'"), std::string::npos)
      << load_error(dir_.path());
  write_text(meta, original);

  write_text(meta, "{\"world_size\": 2,");
  EXPECT_NE(load_error(dir_.path()).find("malformed JSON"), std::string::npos);
}

// meta.json is read as configuration files are (config/json_document.hpp).
TEST_F(DamagedLayout, HostileMetaIsRefusedWithLineAndKey) {
  const fs::path meta = dir_ / "meta.json";
  const std::string original = read_text(meta);

  // A repeated key would otherwise let the last one win silently.
  replace_in_file(meta, "\"hidden\": 8,", "\"hidden\": 8, \"hidden\": 16,");
  EXPECT_NE(load_error(dir_.path()).find("duplicate key 'hidden' in " + meta.string() + " at line"),
            std::string::npos)
      << load_error(dir_.path());
  write_text(meta, original);

  replace_in_file(meta, "\"hidden\": 8",
                  "\"hidden\": " + std::string(100'000, '[') + "8" + std::string(100'000, ']'));
  EXPECT_NE(load_error(dir_.path()).find("key 'hidden': nested more than 64 levels"),
            std::string::npos)
      << load_error(dir_.path());
  write_text(meta, original);

  replace_in_file(meta, "\"d_aux\": 0.25", "\"d_aux\": 1e400");
  EXPECT_NE(load_error(dir_.path()).find("key 'd_aux': the number 1e400 is out of range"),
            std::string::npos)
      << load_error(dir_.path());
  write_text(meta, original);

  write_text(meta, original + std::string(1, '\0') + "{}");
  EXPECT_NE(load_error(dir_.path()).find("a NUL byte"), std::string::npos);

  fs::resize_file(meta, 5'000'000);  // sparse: refused by its size, before reading
  EXPECT_NE(load_error(dir_.path()).find("it is 5000000 bytes, more than the 4194304 allowed"),
            std::string::npos)
      << load_error(dir_.path());
}

// Only a path with nothing there is a missing file; anything else at the path of a tensor or
// of meta.json is named for what it is.
TEST_F(DamagedLayout, NonRegularFilesAreNamedForWhatTheyAre) {
  const fs::path x = dir_ / "rank0/x.npy";
  const auto expect_refusal = [&](const std::string& expected) {
    const std::string error = load_error(dir_.path());
    EXPECT_NE(error.find(x.string()), std::string::npos) << error;
    EXPECT_NE(error.find(expected), std::string::npos) << error;
  };
  fs::remove(x);
  fs::create_directory(x);
  expect_refusal("it is a directory");
  fs::remove(x);
  ASSERT_EQ(::mkfifo(x.c_str(), 0600), 0);
  expect_refusal("it is a FIFO");
  fs::remove(x);
  fs::create_symlink(x, x);
  expect_refusal("symbolic link that loops");
  fs::remove(x);
  fs::create_symlink("/dev/zero", x);
  expect_refusal("it is a character device");

  const fs::path meta = dir_ / "meta.json";
  fs::remove(meta);
  ASSERT_EQ(::mkfifo(meta.c_str(), 0600), 0);
  EXPECT_NE(load_error(dir_.path()).find("it is a FIFO"), std::string::npos)
      << load_error(dir_.path());
}

}  // namespace
}  // namespace flashmoe::io
