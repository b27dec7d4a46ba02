#include "flashmoe/problem.hpp"

#include <cmath>
#include <numbers>

namespace flashmoe {
namespace {

// Counter-based randomness: every element's value is a pure function of (seed, tensor tag,
// element index), so a global expert's weights are the same whatever the world size and the
// generation order never matters.
std::uint64_t mix(std::uint64_t z) {  // splitmix64 finaliser
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double uniform01(std::uint64_t seed, std::uint64_t tag, std::uint64_t index) {
  const std::uint64_t bits = mix(mix(mix(seed) ^ tag) ^ index);
  return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53;  // in (0, 1)
}

double standard_normal(std::uint64_t seed, std::uint64_t tag, std::uint64_t index) {
  const double u1 = uniform01(seed, tag, 2 * index);
  const double u2 = uniform01(seed, tag, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

enum Tag : std::uint64_t { kWg = 1, kW1, kB1, kW2, kB2, kX = 1000, kDout = 2000 };

HostTensor normal_tensor(ElementType type, Shape shape, std::uint64_t seed, std::uint64_t tag) {
  HostTensor t(type, std::move(shape));
  for (std::int64_t i = 0; i < t.numel(); ++i)
    t.set(i, standard_normal(seed, tag, static_cast<std::uint64_t>(i)));
  return t;
}

// Experts [first_expert, first_expert + count) of a global [E, rows, cols] tensor, each
// element ~ U(−bound, bound) indexed by its global position.
HostTensor uniform_expert_tensor(ElementType type, std::int64_t first_expert, std::int64_t count,
                                 Shape per_expert, double bound, std::uint64_t seed,
                                 std::uint64_t tag) {
  const std::int64_t per = shape_numel(per_expert);
  Shape shape{count};
  shape.insert(shape.end(), per_expert.begin(), per_expert.end());
  HostTensor t(type, shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const auto global = static_cast<std::uint64_t>(first_expert * per + i);
    t.set(i, (2.0 * uniform01(seed, tag, global) - 1.0) * bound);
  }
  return t;
}

}  // namespace

namespace {

// make_random_problem's inputs for the ranks `wanted` says yes to; the others stay empty.
template <typename Wanted>
Problem random_problem(const Config& config, int world_size,
                       const std::vector<std::int64_t>& tokens_per_rank, std::uint64_t seed,
                       bool backward, double d_aux, double d_z, Wanted&& wanted) {
  validate(config, world_size);
  FLASHMOE_CHECK(static_cast<int>(tokens_per_rank.size()) == world_size,
                 "tokens: expected one count per rank (", world_size, "), got ",
                 tokens_per_rank.size());
  const ElementType type = storage_type(config.dtype);
  const std::int64_t H = config.hidden, P = config.ffn, rows = config.w1_rows();
  const std::int64_t local = config.local_experts(world_size);

  Problem problem;
  problem.config = config;
  problem.world_size = world_size;
  problem.backward = backward;
  problem.d_aux = d_aux;
  problem.d_z = d_z;
  problem.wg =
      uniform_expert_tensor(type, 0, config.experts, {H}, 1.0 / std::sqrt(double(H)), seed, kWg);
  for (int r = 0; r < world_size; ++r) {
    const std::int64_t tokens = tokens_per_rank[static_cast<std::size_t>(r)];
    FLASHMOE_CHECK(tokens >= 0 && tokens <= config.max_tokens, "tokens on rank ", r, " = ", tokens,
                   ": allowed are 0 ≤ tokens ≤ max_tokens (", config.max_tokens, ")");
    RankInputs in;
    if (wanted(r)) {
      const std::int64_t first = r * local;
      in.x = normal_tensor(type, {tokens, H}, seed, kX + static_cast<std::uint64_t>(r));
      const double bound1 = 1.0 / std::sqrt(double(H)), bound2 = 1.0 / std::sqrt(double(P));
      in.w1 = uniform_expert_tensor(type, first, local, {rows, H}, bound1, seed, kW1);
      in.w2 = uniform_expert_tensor(type, first, local, {H, P}, bound2, seed, kW2);
      if (config.bias) {
        in.b1 = uniform_expert_tensor(type, first, local, {rows}, bound1, seed, kB1);
        in.b2 = uniform_expert_tensor(type, first, local, {H}, bound2, seed, kB2);
      }
      if (backward)
        in.dout = normal_tensor(type, {tokens, H}, seed, kDout + static_cast<std::uint64_t>(r));
    }
    problem.ranks.push_back(std::move(in));
  }
  return problem;
}

}  // namespace

Problem make_random_problem(const Config& config, int world_size,
                            const std::vector<std::int64_t>& tokens_per_rank, std::uint64_t seed,
                            bool backward, double d_aux, double d_z) {
  return random_problem(config, world_size, tokens_per_rank, seed, backward, d_aux, d_z,
                        [](int) { return true; });
}

Problem make_random_rank_problem(const Config& config, int world_size,
                                 const std::vector<std::int64_t>& tokens_per_rank,
                                 std::uint64_t seed, bool backward, double d_aux, double d_z,
                                 int rank) {
  FLASHMOE_CHECK(rank >= 0 && rank < world_size, "problem: rank ", rank,
                 " is outside the world of ", world_size, " ranks");
  return random_problem(config, world_size, tokens_per_rank, seed, backward, d_aux, d_z,
                        [rank](int r) { return r == rank; });
}

namespace {

void validate_shared(const Problem& problem) {
  const Config& c = problem.config;
  validate(c, problem.world_size);
  FLASHMOE_CHECK(static_cast<int>(problem.ranks.size()) == problem.world_size,
                 "problem: expected inputs for ", problem.world_size, " ranks, got ",
                 problem.ranks.size());
  problem.wg.expect("wg", storage_type(c.dtype), {c.experts, c.hidden});
}

void validate_rank_inputs(const Problem& problem, int r) {
  const Config& c = problem.config;
  const ElementType type = storage_type(c.dtype);
  const std::int64_t H = c.hidden, P = c.ffn, rows = c.w1_rows();
  const std::int64_t local = c.local_experts(problem.world_size);
  const RankInputs& in = problem.ranks[static_cast<std::size_t>(r)];
  const std::string at = " (rank " + std::to_string(r) + ")";
  FLASHMOE_CHECK(in.x.rank() == 2, "tensor x", at, ": expected 2 dimensions [S, ", H, "], got ",
                 shape_to_string(in.x.shape()));
  const std::int64_t S = in.x.dim(0);
  FLASHMOE_CHECK(S <= c.max_tokens, "tensor x", at, ": ", S,
                 " tokens exceed max_tokens = ", c.max_tokens);
  in.x.expect("x" + at, type, {S, H});
  in.w1.expect("w1" + at, type, {local, rows, H});
  in.w2.expect("w2" + at, type, {local, H, P});
  if (c.bias) {
    in.b1.expect("b1" + at, type, {local, rows});
    in.b2.expect("b2" + at, type, {local, H});
  }
  if (problem.backward) in.dout.expect("dout" + at, type, {S, H});
}

}  // namespace

void validate_problem(const Problem& problem) {
  validate_shared(problem);
  for (int r = 0; r < problem.world_size; ++r) validate_rank_inputs(problem, r);
}

void validate_problem_rank(const Problem& problem, int rank) {
  validate_shared(problem);
  FLASHMOE_CHECK(rank >= 0 && rank < problem.world_size, "problem: rank ", rank,
                 " is outside the world of ", problem.world_size, " ranks");
  validate_rank_inputs(problem, rank);
}

}  // namespace flashmoe
