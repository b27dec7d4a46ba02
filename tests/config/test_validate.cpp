// validate(): one test per refusal of SPEC §6; each message names the key and the value.
#include <cmath>
#include <limits>

#include "flashmoe/config.hpp"
#include "support/error_message.hpp"

namespace flashmoe {
namespace {

using test::contains_all;
using test::error_message;

std::string refusal(const Config& config, int world_size = 1) {
  return error_message([&] { validate(config, world_size); });
}

TEST(ConfigValidate, DefaultsAreValid) {
  EXPECT_NO_THROW(validate(Config{}));
  EXPECT_NO_THROW(validate(Config{}, 4));
  EXPECT_NO_THROW(validate(Config{}, 16));
}

TEST(ConfigValidate, RefusesNonPositiveHidden) {
  Config c;
  c.hidden = 0;
  EXPECT_TRUE(contains_all(refusal(c), {"hidden", "= 0", "1 ≤ hidden"}));
  c.hidden = -3;
  EXPECT_TRUE(contains_all(refusal(c), {"hidden", "-3"}));
}

TEST(ConfigValidate, RefusesNonPositiveFfn) {
  Config c;
  c.ffn = 0;
  EXPECT_TRUE(contains_all(refusal(c), {"ffn", "= 0", "1 ≤ ffn"}));
}

TEST(ConfigValidate, RefusesNonPositiveExperts) {
  Config c;
  c.experts = 0;
  EXPECT_TRUE(contains_all(refusal(c), {"experts", "= 0", "1 ≤ experts"}));
}

TEST(ConfigValidate, RefusesDimensionsBeyondInt32) {
  Config c;
  c.hidden = std::int64_t{1} << 31;
  EXPECT_TRUE(contains_all(refusal(c), {"hidden", "2147483648", "2147483647"}));
}

TEST(ConfigValidate, RefusesNonPositiveWorldSize) {
  EXPECT_TRUE(contains_all(refusal(Config{}, 0), {"world size", "0", "≥ 1"}));
}

TEST(ConfigValidate, RefusesExpertsNotDivisibleByWorldSize) {
  Config c;
  c.experts = 6;
  c.top_k = 2;
  EXPECT_TRUE(
      contains_all(refusal(c, 4), {"experts (E=6) must be divisible by the world size (4)"}));
  EXPECT_NO_THROW(validate(c, 3));
}

TEST(ConfigValidate, RefusesTopKAboveExperts) {
  Config c;
  c.experts = 4;
  c.top_k = 5;
  EXPECT_TRUE(contains_all(refusal(c), {"top_k", "= 5", "min(experts, 16) = 4"}));
  c.top_k = 4;  // k = E is allowed
  EXPECT_NO_THROW(validate(c));
}

TEST(ConfigValidate, RefusesTopKAboveSixteen) {
  Config c;
  c.experts = 64;
  c.top_k = 17;
  EXPECT_TRUE(contains_all(refusal(c), {"top_k", "= 17", "= 16"}));
  c.top_k = 16;
  EXPECT_NO_THROW(validate(c));
}

TEST(ConfigValidate, RefusesTopKBelowOne) {
  Config c;
  c.top_k = 0;
  EXPECT_TRUE(contains_all(refusal(c), {"top_k", "= 0", "1 ≤ top_k"}));
}

TEST(ConfigValidate, RefusesNonPositiveCapacityFactor) {
  Config c;
  c.capacity_factor = 0;
  EXPECT_TRUE(contains_all(refusal(c), {"capacity_factor", "= 0", "0 < capacity_factor"}));
  c.capacity_factor = -1.5;
  EXPECT_TRUE(contains_all(refusal(c), {"capacity_factor", "-1.5"}));
}

TEST(ConfigValidate, RefusesNonFiniteCapacityFactor) {
  Config c;
  c.capacity_factor = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(contains_all(refusal(c), {"capacity_factor", "inf", "finite"}));
  c.capacity_factor = std::nan("");
  EXPECT_TRUE(contains_all(refusal(c), {"capacity_factor", "nan"}));
}

TEST(ConfigValidate, AcceptsFractionalCapacityFactor) {
  Config c;
  c.capacity_factor = 0.5;
  EXPECT_NO_THROW(validate(c));
}

TEST(ConfigValidate, RefusesMaxTokensOutOfRange) {
  Config c;
  c.max_tokens = 0;
  EXPECT_TRUE(contains_all(refusal(c), {"max_tokens", "= 0", "1 ≤ max_tokens ≤ 2147483647"}));
  c.max_tokens = std::int64_t{1} << 31;
  EXPECT_TRUE(contains_all(refusal(c), {"max_tokens", "2147483648"}));
}

TEST(ConfigValidate, RefusesBadWaitTimeout) {
  Config c;
  c.wait_timeout_s = 0;
  EXPECT_TRUE(contains_all(refusal(c), {"wait_timeout_s", "= 0", "0 < wait_timeout_s"}));
  c.wait_timeout_s = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(contains_all(refusal(c), {"wait_timeout_s", "inf"}));
}

TEST(ConfigValidate, RefusesTf32WithoutFp32) {
  Config c;
  c.allow_tf32 = true;
  EXPECT_NO_THROW(validate(c));  // fp32 is the default dtype
  c.dtype = DType::bf16;
  EXPECT_TRUE(contains_all(refusal(c), {"allow_tf32", "true", "bf16", "fp32"}));
}

TEST(ConfigValidate, RefusesOutOfRangeEnums) {
  Config c;
  c.activation = static_cast<Activation>(42);
  EXPECT_TRUE(contains_all(refusal(c), {"activation", "42", "swiglu"}));
  c = Config{};
  c.dtype = static_cast<DType>(9);
  EXPECT_TRUE(contains_all(refusal(c), {"dtype", "9", "bf16"}));
}

TEST(ConfigValidate, RefusesAbsurdWeightSizes) {
  Config c;
  c.hidden = 1 << 20;
  c.ffn = 1 << 20;
  c.experts = 1 << 10;  // 2^50 elements
  EXPECT_TRUE(contains_all(refusal(c), {"experts", "ffn", "hidden", "2^40"}));
}

TEST(ConfigValidate, RefusesWeightSizesThatOverflowInt64) {
  Config c;
  c.hidden = std::numeric_limits<std::int32_t>::max();
  c.ffn = std::numeric_limits<std::int32_t>::max();
  c.experts = std::numeric_limits<std::int32_t>::max();
  EXPECT_TRUE(contains_all(refusal(c), {"more than 2^63", "experts", "hidden"}));
}

TEST(ConfigValidate, RefusesAbsurdTokenBuffers) {
  Config c;
  c.hidden = 1 << 16;
  c.ffn = 16;
  c.experts = 16;
  c.top_k = 16;
  c.max_tokens = std::numeric_limits<std::int32_t>::max();
  EXPECT_TRUE(contains_all(refusal(c), {"max_tokens", "top_k", "2^40"}));
}

TEST(ConfigValidate, GatedActivationDoublesW1Rows) {
  Config c;
  c.activation = Activation::swiglu;
  EXPECT_EQ(c.w1_rows(), 2 * c.ffn);
  EXPECT_NO_THROW(validate(c));
}

}  // namespace
}  // namespace flashmoe
