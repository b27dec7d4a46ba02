// Deterministic test values in [−1, 1) with no special structure: element i of stream `seed`,
// the same on every machine and in every order of evaluation (a splitmix-style hash).
#pragma once

#include <cstdint>

namespace flashmoe::test {

inline double pseudo_random(std::uint64_t seed, std::int64_t i) {
  std::uint64_t z =
      seed * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(i) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 31)) * 0x94d049bb133111ebull;
  z ^= z >> 29;
  return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
}

}  // namespace flashmoe::test
