// HostTensor: zero fill, typed access, rounding on set, conversions, shape/type messages, deep
// copies and alignment.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "flashmoe/tensor.hpp"
#include "support/error_message.hpp"

namespace flashmoe {
namespace {

using test::error_message;

TEST(HostTensor, DefaultIsUndefinedAndEmpty) {
  const HostTensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.numel(), 0);
}

TEST(HostTensor, ZerosHasShapeTypeAndZeroValues) {
  const HostTensor t = HostTensor::zeros<float>({2, 3});
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.type(), ElementType::f32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.rank(), 2u);
  EXPECT_EQ(t.dim(1), 3);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  for (float v : t.data<float>()) EXPECT_EQ(v, 0.0f);
  for (ElementType type : {ElementType::f64, ElementType::bf16, ElementType::f16, ElementType::i32,
                           ElementType::i64, ElementType::u8}) {
    const HostTensor z(type, {5});
    for (std::int64_t i = 0; i < 5; ++i) EXPECT_EQ(z.get(i), 0.0) << to_string(type);
  }
}

TEST(HostTensor, ZeroSizedDimensionIsDefinedButEmpty) {
  const HostTensor t = HostTensor::zeros<double>({0, 4});
  EXPECT_TRUE(t.defined());
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.nbytes(), 0u);
}

TEST(HostTensor, StorageIs64ByteAligned) {
  HostTensor t = HostTensor::zeros<float>({3});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw()) % 64, 0u);
}

TEST(HostTensor, SetRoundsToTheElementTypeAndGetWidensExactly) {
  HostTensor f32 = HostTensor::zeros<float>({1});
  f32.set(0, 0.1);
  EXPECT_EQ(f32.get(0), static_cast<double>(0.1f));

  // One rounding, to nearest even, from double (a double → float → bfloat16 path would give 1).
  HostTensor bf16(ElementType::bf16, {2});
  bf16.set(0, 1.0 + 0x1p-8 + 0x1p-30);
  EXPECT_EQ(bf16.get(0), 1.0 + 0x1p-7);
  bf16.set(1, 1.0 + 0x1p-8);  // exact tie → even
  EXPECT_EQ(bf16.get(1), 1.0);

  HostTensor f16(ElementType::f16, {2});
  f16.set(0, 1e5);
  EXPECT_EQ(f16.get(0), std::numeric_limits<double>::infinity());
  f16.set(1, 0x1p-24);
  EXPECT_EQ(f16.get(1), 0x1p-24);

  HostTensor f64 = HostTensor::zeros<double>({1});
  f64.set(0, 0.1);
  EXPECT_EQ(f64.get(0), 0.1);

  HostTensor i32(ElementType::i32, {1});
  i32.set(0, -7.0);
  EXPECT_EQ(i32.get(0), -7.0);
  HostTensor u8(ElementType::u8, {1});
  u8.set(0, 200.0);
  EXPECT_EQ(u8.get(0), 200.0);
}

TEST(HostTensor, TypedViewRefusesTheWrongType) {
  HostTensor t = HostTensor::zeros<float>({2});
  const std::string message = error_message([&] { (void)t.data<double>(); });
  EXPECT_NE(message.find("float32"), std::string::npos) << message;
  EXPECT_NE(message.find("float64"), std::string::npos) << message;
}

TEST(HostTensor, ToConvertsWithRoundingAndKeepsShape) {
  HostTensor f64 = HostTensor::zeros<double>({2, 2});
  const double values[] = {1.0 + 0x1p-8 + 0x1p-30, -3.0, 0.1, 65520.0};
  for (int i = 0; i < 4; ++i) f64.set(i, values[i]);
  const HostTensor bf16 = f64.to(ElementType::bf16);
  EXPECT_EQ(bf16.type(), ElementType::bf16);
  EXPECT_EQ(bf16.shape(), f64.shape());
  EXPECT_EQ(bf16.get(0), 1.0 + 0x1p-7);
  EXPECT_EQ(bf16.get(1), -3.0);
  EXPECT_EQ(bf16.get(2), static_cast<double>(bfloat16::from_float(0.1f).to_float()));
  const HostTensor f16 = f64.to(ElementType::f16);
  EXPECT_EQ(f16.get(3), std::numeric_limits<double>::infinity());
  // Widening back is exact.
  const HostTensor back = bf16.to(ElementType::f64);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(back.get(i), bf16.get(i));
}

TEST(HostTensor, CopiesAreDeep) {
  HostTensor a = HostTensor::zeros<float>({3});
  a.set(1, 2.5);
  HostTensor copy = a;
  HostTensor same_type = a.to(ElementType::f32);
  copy.set(1, -1.0);
  same_type.set(1, -2.0);
  EXPECT_EQ(a.get(1), 2.5);
  EXPECT_EQ(copy.get(1), -1.0);
  EXPECT_EQ(same_type.get(1), -2.0);
  HostTensor assigned;
  assigned = a;
  a.set(1, 7.0);
  EXPECT_EQ(assigned.get(1), 2.5);
  EXPECT_NE(assigned.raw(), a.raw());
}

TEST(HostTensor, ExpectNamesTensorExpectedAndActual) {
  const HostTensor t = HostTensor::zeros<double>({2, 3});
  EXPECT_NO_THROW(t.expect("x", ElementType::f64, {2, 3}));
  const std::string shape_message = error_message([&] {
    t.expect("w1 (rank 1)", ElementType::f64, {2, 4});
  });
  EXPECT_NE(shape_message.find("tensor w1 (rank 1): expected float64 [2, 4], got float64 [2, 3]"),
            std::string::npos)
      << shape_message;
  const std::string type_message = error_message([&] { t.expect("x", ElementType::f32, {2, 3}); });
  EXPECT_NE(type_message.find("expected float32 [2, 3], got float64 [2, 3]"), std::string::npos)
      << type_message;
}

TEST(HostTensor, NegativeDimensionIsRefused) {
  const std::string message = error_message([] { HostTensor t(ElementType::f32, {2, -1}); });
  EXPECT_NE(message.find("[2, -1]"), std::string::npos) << message;
}

TEST(Shape, ToStringAndNumel) {
  EXPECT_EQ(shape_to_string({}), "[]");
  EXPECT_EQ(shape_to_string({4, 1, 2}), "[4, 1, 2]");
  EXPECT_EQ(shape_numel({4, 1, 2}), 8);
  EXPECT_EQ(shape_numel({}), 1);
}

}  // namespace
}  // namespace flashmoe
