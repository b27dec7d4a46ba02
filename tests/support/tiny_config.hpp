// The tiny layer of the reference and problem tests: small enough for finite differences over
// every parameter, large enough for k < E and several experts per rank.
#pragma once

#include "flashmoe/config.hpp"

namespace flashmoe::test {

// H = 6, P = 5, E = 4, k = 2, fp64, at most 64 tokens per rank.
inline Config tiny_config(Activation activation = Activation::gelu) {
  return {.hidden = 6,
          .ffn = 5,
          .experts = 4,
          .top_k = 2,
          .activation = activation,
          .dtype = DType::fp64,
          .max_tokens = 64};
}

}  // namespace flashmoe::test
