// cpu::activate / cpu::activate_backward (the engine's vectorised activation of a tile) against
// math::activate / math::activate_derivative in double: every plain activation, f32 and bf16
// destinations, strided rows (padding untouched), and bitwise repeatability.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "flashmoe/error.hpp"
#include "flashmoe/tensor.hpp"
#include "math/activation.hpp"
#include "platform/cpu/gemm.hpp"
#include "support/tensor_compare.hpp"

namespace flashmoe::cpu {
namespace {

constexpr std::int64_t kRows = 7, kCols = 45, kSrcLd = 50, kDstLd = 48;
const Activation kPlain[] = {Activation::relu, Activation::gelu, Activation::gelu_tanh,
                             Activation::silu, Activation::identity};

// z in (−6, 6), away from 0 (relu's kink), deterministic.
std::vector<float> inputs() {
  std::vector<float> z(static_cast<std::size_t>(kRows * kSrcLd));
  for (std::size_t i = 0; i < z.size(); ++i)
    z[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i) + 0.1) * 6.0);
  return z;
}

// Unit roundoff of the destination plus a few fp32 ulps of oneDNN's approximations; the
// absolute term covers the saturated tails, where oneDNN returns 0 for values of ~1e-6 (the
// gelu_tanh derivative at z ≈ −5: tanh rounds to −1 in fp32) — a few ulps of O(1) results.
double tolerance(ElementType type, double expected) {
  const double eps = type == ElementType::bf16 ? 0x1.0p-8 : 0x1.0p-24;
  return (eps + 1e-6) * std::fabs(expected) + 4e-6;
}

// A destination of kRows rows of kDstLd elements, every byte 0x5a, so that a write past a
// row's kCols elements shows.
HostTensor filled_destination(ElementType type) {
  HostTensor dst(type, {kRows * kDstLd});
  std::memset(dst.raw(), 0x5a, dst.nbytes());
  return dst;
}

void run(bool backward, Activation act, const std::vector<float>& z, const std::vector<float>& grad,
         HostTensor& dst) {
  if (backward)
    activate_backward(act, kRows, kCols, z.data(), kSrcLd, grad.data(), dst.raw(), dst.type(),
                      kDstLd);
  else
    activate(act, kRows, kCols, z.data(), kSrcLd, dst.raw(), dst.type(), kDstLd);
}

void check(bool backward) {
  const std::vector<float> z = inputs();
  std::vector<float> grad(static_cast<std::size_t>(kRows * kCols));
  for (std::size_t i = 0; i < grad.size(); ++i)
    grad[i] = static_cast<float>(std::cos(0.11 * static_cast<double>(i)) * 2.0);
  for (Activation act : kPlain) {
    for (ElementType type : {ElementType::f32, ElementType::bf16}) {
      SCOPED_TRACE(std::string(to_string(act)) + " → " + std::string(to_string(type)) +
                   (backward ? " backward" : " forward"));
      HostTensor dst = filled_destination(type), again = filled_destination(type);
      run(backward, act, z, grad, dst);
      const auto* dst_bytes = static_cast<const std::byte*>(dst.raw());
      for (std::int64_t i = 0; i < kRows; ++i) {
        for (std::int64_t j = 0; j < kCols; ++j) {
          const double zv = z[static_cast<std::size_t>(i * kSrcLd + j)];
          const double expected = backward ? grad[static_cast<std::size_t>(i * kCols + j)] *
                                                 math::activate_derivative(act, zv)
                                           : math::activate(act, zv);
          ASSERT_NEAR(dst.get(i * kDstLd + j), expected, tolerance(type, expected))
              << "at (" << i << ", " << j << "), z = " << zv;
        }
        for (std::size_t b = static_cast<std::size_t>(i * kDstLd + kCols) * element_size(type);
             b < static_cast<std::size_t>((i + 1) * kDstLd) * element_size(type); ++b)
          ASSERT_EQ(dst_bytes[b], std::byte{0x5a}) << "padding of row " << i;
      }
      run(backward, act, z, grad, again);
      EXPECT_TRUE(test::bitwise_equal(dst, again)) << "a repeated call must give the same bits";
    }
  }
}

TEST(Activate, PlainActivationsMatchMath) {
  check(false);
}

TEST(Activate, DerivativesMatchMath) {
  check(true);
}

TEST(Activate, RefusesGatedActivationsAndBadShapes) {
  std::vector<float> z(16), out(16);
  EXPECT_THROW(activate(Activation::swiglu, 2, 2, z.data(), 2, out.data(), ElementType::f32, 2),
               Error);
  EXPECT_THROW(activate(Activation::gelu, 2, 4, z.data(), 2, out.data(), ElementType::f32, 4),
               Error);
  EXPECT_THROW(activate(Activation::gelu, 2, 2, z.data(), 2, out.data(), ElementType::f64, 2),
               Error);
}

}  // namespace
}  // namespace flashmoe::cpu
