// Activations and their derivatives: every derivative against central differences in double,
// known values, relu′(0) = 0, and the gated activations' gate functions.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "flashmoe/types.hpp"
#include "math/activation.hpp"

namespace flashmoe::math {
namespace {

constexpr Activation kAll[] = {Activation::relu, Activation::gelu,     Activation::gelu_tanh,
                               Activation::silu, Activation::identity, Activation::swiglu,
                               Activation::geglu};

TEST(Activation, DerivativesMatchCentralDifferences) {
  // Points avoid relu's kink at 0; relu is piecewise linear elsewhere, so differences are exact.
  const double points[] = {-6.0, -3.1, -1.7, -0.9, -0.31, -0.02, 0.013, 0.2, 0.77, 1.5, 2.9, 5.5};
  for (Activation a : kAll) {
    for (double z : points) {
      const double h = 1e-5;
      const double numeric = (activate(a, z + h) - activate(a, z - h)) / (2 * h);
      EXPECT_NEAR(activate_derivative(a, z), numeric, 1e-9) << to_string(a) << " at z = " << z;
    }
  }
}

TEST(Activation, KnownValues) {
  EXPECT_EQ(activate(Activation::relu, -2.0), 0.0);
  EXPECT_EQ(activate(Activation::relu, 2.5), 2.5);
  EXPECT_EQ(activate(Activation::identity, -1.25), -1.25);
  EXPECT_EQ(activate_derivative(Activation::identity, 7.0), 1.0);
  // gelu(1) = Φ(1) = 0.841344746068543; gelu(−1) = −(1 − Φ(1)).
  EXPECT_NEAR(activate(Activation::gelu, 1.0), 0.8413447460685429, 1e-15);
  EXPECT_NEAR(activate(Activation::gelu, -1.0), -0.15865525393145707, 1e-15);
  // gelu_tanh and its derivative at 1, −0.5 and 2, from the formula evaluated with 40 digits
  // (mpmath; torch.nn.functional.gelu(approximate="tanh") gives the same values in fp64),
  // not restated from the implementation's own expression.
  EXPECT_NEAR(activate(Activation::gelu_tanh, 1.0), 0.8411919906082767047819958, 1e-15);
  EXPECT_NEAR(activate(Activation::gelu_tanh, -0.5), -0.1542859901748560779622427, 1e-15);
  EXPECT_NEAR(activate(Activation::gelu_tanh, 2.0), 1.954597694087775018781041, 1e-15);
  EXPECT_NEAR(activate_derivative(Activation::gelu_tanh, 1.0), 1.082964083845782555139642, 1e-14);
  EXPECT_NEAR(activate_derivative(Activation::gelu_tanh, -0.5), 0.1326300964653576884398291, 1e-14);
  EXPECT_NEAR(activate_derivative(Activation::gelu_tanh, 2.0), 1.086099256623618381564514, 1e-14);
  EXPECT_NEAR(activate(Activation::silu, 1.0), 1.0 / (1.0 + std::exp(-1.0)), 1e-15);
  EXPECT_EQ(activate(Activation::silu, 0.0), 0.0);
  EXPECT_EQ(activate(Activation::gelu, 0.0), 0.0);
  // Derivatives at 0: gelu′(0) = silu′(0) = gelu_tanh′(0) = ½.
  EXPECT_EQ(activate_derivative(Activation::gelu, 0.0), 0.5);
  EXPECT_EQ(activate_derivative(Activation::silu, 0.0), 0.5);
  EXPECT_EQ(activate_derivative(Activation::gelu_tanh, 0.0), 0.5);
}

TEST(Activation, GeluFormsAreDifferentFunctions) {
  // The erf and tanh forms agree to ~1e-3 but are not the same; each has its own derivative.
  const double z = 1.3;
  EXPECT_NE(activate(Activation::gelu, z), activate(Activation::gelu_tanh, z));
  EXPECT_NEAR(activate(Activation::gelu, z), activate(Activation::gelu_tanh, z), 1e-3);
  EXPECT_NE(activate_derivative(Activation::gelu, z),
            activate_derivative(Activation::gelu_tanh, z));
}

TEST(Activation, ReluDerivativeAtZeroIsZero) {
  EXPECT_EQ(activate_derivative(Activation::relu, 0.0), 0.0);
  EXPECT_EQ(activate_derivative(Activation::relu, -0.0), 0.0);
  EXPECT_EQ(activate_derivative(Activation::relu, 0.0f), 0.0f);
  EXPECT_EQ(activate_derivative(Activation::relu, 1e-300), 1.0);
  EXPECT_EQ(activate_derivative(Activation::relu, -1e-300), 0.0);
}

TEST(Activation, GatedActivationsUseTheirGateFunction) {
  for (double z : {-2.0, -0.5, 0.3, 1.7}) {
    EXPECT_EQ(activate(Activation::swiglu, z), silu(z));
    EXPECT_EQ(activate_derivative(Activation::swiglu, z), silu_derivative(z));
    EXPECT_EQ(activate(Activation::geglu, z), gelu(z));
    EXPECT_EQ(activate_derivative(Activation::geglu, z), gelu_derivative(z));
  }
}

TEST(Activation, FloatAgreesWithDouble) {
  for (Activation a : kAll) {
    for (double z : {-4.0, -1.0, -0.25, 0.5, 2.0, 8.0}) {
      const auto zf = static_cast<float>(z);
      EXPECT_NEAR(activate(a, zf), activate(a, z), 1e-6 * (1 + std::abs(z))) << to_string(a);
      EXPECT_NEAR(activate_derivative(a, zf), activate_derivative(a, z), 1e-6) << to_string(a);
    }
  }
}

TEST(Activation, LargeArgumentsStayFinite) {
  for (Activation a : kAll) {
    for (double z : {-800.0, 800.0}) {
      EXPECT_TRUE(std::isfinite(activate(a, z))) << to_string(a) << " " << z;
      EXPECT_TRUE(std::isfinite(activate_derivative(a, z))) << to_string(a) << " " << z;
    }
    EXPECT_TRUE(std::isfinite(activate(a, -100.0f))) << to_string(a);
    EXPECT_TRUE(std::isfinite(activate_derivative(a, -100.0f))) << to_string(a);
  }
}

}  // namespace
}  // namespace flashmoe::math
