// cpu::activate / cpu::activate_backward and their gated forms (the engine's vectorised
// activation of a tile) against math::activate / math::activate_derivative in double: every
// activation, f32 and bf16 destinations, strided rows (padding untouched), and bitwise
// repeatability.
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

// Gated tiles: gate columns g = z[:, 0..kCols), up columns u = z[:, kUp..kUp + kCols) inside
// rows of kGatedLd; forward h = act(g)·u into kCols columns; backward dg into columns
// [0, kCols) and du into [kUp, kUp + kCols) of each destination row.
constexpr std::int64_t kUp = 47, kGatedLd = 2 * kUp + 3;

void check_gated(bool backward) {
  std::vector<float> z(static_cast<std::size_t>(kRows * kGatedLd));
  for (std::size_t i = 0; i < z.size(); ++i)
    z[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i) + 0.1) * 6.0);
  std::vector<float> grad(static_cast<std::size_t>(kRows * kCols));
  for (std::size_t i = 0; i < grad.size(); ++i)
    grad[i] = static_cast<float>(std::cos(0.11 * static_cast<double>(i)) * 2.0);
  const std::int64_t dst_ld = backward ? kGatedLd : kDstLd;
  for (Activation act : {Activation::swiglu, Activation::geglu}) {
    for (ElementType type : {ElementType::f32, ElementType::bf16}) {
      SCOPED_TRACE(std::string(to_string(act)) + " → " + std::string(to_string(type)) +
                   (backward ? " backward" : " forward"));
      const auto destination = [&] {
        HostTensor dst(type, {kRows * dst_ld});
        std::memset(dst.raw(), 0x5a, dst.nbytes());
        return dst;
      };
      HostTensor dst = destination(), again = destination();
      const auto call = [&](HostTensor& out) {
        if (backward)
          activate_gated_backward(act, kRows, kCols, z.data(), kGatedLd, kUp, grad.data(),
                                  out.raw(), type, dst_ld);
        else
          activate_gated(act, kRows, kCols, z.data(), kGatedLd, kUp, out.raw(), type, dst_ld);
      };
      call(dst);
      for (std::int64_t i = 0; i < kRows; ++i)
        for (std::int64_t j = 0; j < kCols; ++j) {
          const double g = z[static_cast<std::size_t>(i * kGatedLd + j)];
          const double u = z[static_cast<std::size_t>(i * kGatedLd + kUp + j)];
          const double d = grad[static_cast<std::size_t>(i * kCols + j)];
          if (backward) {
            const double dg = d * u * math::activate_derivative(act, g);
            const double du = d * math::activate(act, g);
            ASSERT_NEAR(dst.get(i * dst_ld + j), dg, tolerance(type, dg)) << i << ", " << j;
            ASSERT_NEAR(dst.get(i * dst_ld + kUp + j), du, tolerance(type, du)) << i << ", " << j;
          } else {
            const double h = math::activate(act, g) * u;
            ASSERT_NEAR(dst.get(i * dst_ld + j), h, tolerance(type, h)) << i << ", " << j;
          }
        }
      // Columns the call must not touch: past kCols (forward), between the two halves and past
      // the up half (backward).
      const auto* bytes = static_cast<const std::byte*>(dst.raw());
      for (std::int64_t i = 0; i < kRows; ++i)
        for (std::int64_t j = kCols; j < dst_ld; ++j) {
          if (backward && j >= kUp && j < kUp + kCols) continue;
          for (std::size_t b = 0; b < element_size(type); ++b)
            ASSERT_EQ(bytes[static_cast<std::size_t>(i * dst_ld + j) * element_size(type) + b],
                      std::byte{0x5a})
                << "untouched column " << j << " of row " << i;
        }
      call(again);
      EXPECT_TRUE(test::bitwise_equal(dst, again)) << "a repeated call must give the same bits";
    }
  }
}

TEST(Activate, GatedActivationsMatchMath) {
  check_gated(false);
}

TEST(Activate, GatedDerivativesMatchMath) {
  check_gated(true);
}

TEST(Activate, RefusesGatedActivationsAndBadShapes) {
  std::vector<float> z(16), out(16);
  EXPECT_THROW(activate(Activation::swiglu, 2, 2, z.data(), 2, out.data(), ElementType::f32, 2),
               Error);
  EXPECT_THROW(activate(Activation::gelu, 2, 4, z.data(), 2, out.data(), ElementType::f32, 4),
               Error);
  EXPECT_THROW(activate(Activation::gelu, 2, 2, z.data(), 2, out.data(), ElementType::f64, 2),
               Error);
  EXPECT_THROW(
      activate_gated(Activation::gelu, 2, 2, z.data(), 4, 2, out.data(), ElementType::f32, 2),
      Error);
}

}  // namespace
}  // namespace flashmoe::cpu
