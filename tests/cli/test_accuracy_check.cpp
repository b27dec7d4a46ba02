// The --check arithmetic: relative L2 error (and its zero-norm case), SPEC §4 tolerances, real
// backends within them (errors above zero, so the comparison is not of a result with itself),
// and a perturbed output and gradient failing by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "cli/accuracy_check.hpp"
#include "cli/backends.hpp"

namespace flashmoe::cli {
namespace {

HostTensor vector_of(std::initializer_list<double> values) {
  HostTensor t(ElementType::f64, {static_cast<std::int64_t>(values.size())});
  std::int64_t i = 0;
  for (double v : values) t.set(i++, v);
  return t;
}

TEST(AccuracyCheck, RelativeL2) {
  EXPECT_DOUBLE_EQ(relative_l2(vector_of({3, 4}), vector_of({3, 4})), 0.0);
  EXPECT_DOUBLE_EQ(relative_l2(vector_of({3, 5}), vector_of({3, 4})), 0.2);
  // A zero reference demands a zero result: the error is absolute.
  EXPECT_DOUBLE_EQ(relative_l2(vector_of({0, 0}), vector_of({0, 0})), 0.0);
  EXPECT_DOUBLE_EQ(relative_l2(vector_of({3, 4}), vector_of({0, 0})), 5.0);
  EXPECT_TRUE(std::isinf(relative_l2(vector_of({1}), vector_of({1, 2}))));
}

TEST(AccuracyCheck, ToleranceFollowsSpec) {
  Config c;
  c.dtype = DType::fp64;
  EXPECT_EQ(tolerance_for(c), 1e-12);
  c.dtype = DType::fp32;
  EXPECT_EQ(tolerance_for(c), 1e-5);
  c.allow_tf32 = true;
  EXPECT_EQ(tolerance_for(c), 5e-3);
  c.dtype = DType::bf16;
  EXPECT_EQ(tolerance_for(c), 2e-2);
  c.dtype = DType::fp16;
  EXPECT_EQ(tolerance_for(c), 2e-2);
}

TEST(AccuracyCheck, NanFails) {
  CheckRow row;
  row.rank_errors = {1e-9, std::numeric_limits<double>::quiet_NaN()};
  row.pooled_error = 1e-9;
  EXPECT_FALSE(row.passed(1e-5));
  row.rank_errors = {1e-9, 1e-7};
  EXPECT_TRUE(row.passed(1e-5));
  EXPECT_FALSE(row.passed(1e-8));
}

Problem check_problem(DType dtype) {
  Config c;
  c.hidden = 16;
  c.ffn = 24;
  c.experts = 4;
  c.dtype = dtype;
  c.bias = true;
  c.aux_loss = true;
  return make_random_problem(c, 2, {9, 4}, 3, true, 0.1, 0.0);
}

const CheckRow& row_of(const CheckReport& report, const std::string& tensor) {
  for (const CheckRow& row : report.rows)
    if (row.tensor == tensor) return row;
  ADD_FAILURE() << "no row " << tensor;
  return report.rows.front();
}

// The cpu engine in each of its dtypes and the reference in fp32 arithmetic (the backend for
// fp32, bf16, fp16) pass, with an error above zero in some tensor: they are compared with an
// fp64 run, not with themselves. (The cpu engine's fp64 out can equal the reference's bit for
// bit at these shapes; its dx, dw1 and dw2 differ by ~1e-16.) The reference at fp64 is that
// run itself, so it is not among the cases.
TEST(AccuracyCheck, BackendsPassWithinTheirDtypesTolerance) {
  struct Case {
    const char* backend;
    DType dtype;
  };
  for (const Case k : {Case{"cpu", DType::fp64}, Case{"cpu", DType::fp32}, Case{"cpu", DType::bf16},
                       Case{"reference", DType::fp32}, Case{"reference", DType::bf16},
                       Case{"reference", DType::fp16}}) {
    const Problem problem = check_problem(k.dtype);
    const CheckReport report =
        check_against_reference(problem, find_backend(k.backend).run(problem, {}));
    const std::string what = std::string(k.backend) + " " + std::string(to_string(k.dtype));
    EXPECT_TRUE(report.passed()) << what;
    EXPECT_EQ(report.rows.size(), 8u) << what;  // out dx dwg dw1 db1 dw2 db2 l_aux
    double largest = 0.0;
    for (const CheckRow& row : report.rows) largest = std::max(largest, row.worst());
    EXPECT_GT(largest, 0.0) << what;
  }
}

// One element of rank 1's out and of rank 0's dw1 off by 10× the tolerance of the tensor's
// norm: those two rows fail, on the rank that holds the error, the others pass.
TEST(AccuracyCheck, APerturbedOutputAndGradientFailByName) {
  const Problem problem = check_problem(DType::fp32);
  Results results = find_backend("cpu").run(problem, {});
  const double tolerance = tolerance_for(problem.config);
  const auto perturb = [tolerance](HostTensor& t) {
    double norm = 0.0;
    for (std::int64_t i = 0; i < t.numel(); ++i) norm += t.get(i) * t.get(i);
    t.set(0, t.get(0) + 10.0 * tolerance * std::sqrt(norm));
  };
  perturb(results.ranks[1].out);
  perturb(results.ranks[0].dw1);
  const CheckReport report = check_against_reference(problem, results);
  EXPECT_FALSE(report.passed());
  for (const CheckRow& row : report.rows) {
    const bool spoiled = row.tensor == "out" || row.tensor == "dw1";
    EXPECT_EQ(row.passed(report.tolerance), !spoiled) << row.tensor;
  }
  EXPECT_LE(row_of(report, "out").rank_errors[0], tolerance);
  EXPECT_GT(row_of(report, "out").rank_errors[1], tolerance);
  EXPECT_GT(row_of(report, "dw1").rank_errors[0], tolerance);
  EXPECT_LE(row_of(report, "dw1").rank_errors[1], tolerance);

  std::ostringstream table;
  print_check(table, report, problem.config);
  const std::string text = table.str();
  EXPECT_NE(text.find("\ncheck: FAIL\n"), std::string::npos) << text;
  for (const std::string line : {"  out ", "  dw1 "}) {
    const std::size_t at = text.find(line);
    ASSERT_NE(at, std::string::npos) << line << " in " << text;
    EXPECT_EQ(text.substr(text.find('\n', at) - 4, 4), "FAIL") << line << " in " << text;
  }
}

}  // namespace
}  // namespace flashmoe::cli
