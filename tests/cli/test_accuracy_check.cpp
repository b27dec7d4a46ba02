// The --check arithmetic: relative L2 error (and its zero-norm case), SPEC §4 tolerances, and a
// reference backend that matches the fp64 reference.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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

TEST(AccuracyCheck, ReferenceBackendPassesInEveryDtype) {
  for (DType dtype : {DType::fp64, DType::fp32, DType::bf16, DType::fp16}) {
    Config c;
    c.hidden = 16;
    c.ffn = 24;
    c.experts = 4;
    c.dtype = dtype;
    c.bias = true;
    c.aux_loss = true;
    const Problem problem = make_random_problem(c, 2, {9, 4}, 3, true, 0.1, 0.0);
    const Results results = find_backend("reference").run(problem, {});
    const CheckReport report = check_against_reference(problem, results);
    EXPECT_TRUE(report.passed()) << to_string(dtype);
    EXPECT_EQ(report.rows.size(), 8u);  // out dx dwg dw1 db1 dw2 db2 l_aux
  }
}

}  // namespace
}  // namespace flashmoe::cli
