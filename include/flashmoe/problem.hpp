// Problem and Results: one MoE layer call on every rank, as the command line, the file layout,
// the reference and the in-process backends exchange it. Shapes follow SPEC §1.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "flashmoe/config.hpp"
#include "flashmoe/tensor.hpp"

namespace flashmoe {

// Inputs held by rank r. Floating tensors are stored in the layer's dtype (storage_type()).
struct RankInputs {
  HostTensor x;     // [S_r, H]
  HostTensor w1;    // [E/W, w1_rows, H]   w1_rows = P, or 2P for gated activations
  HostTensor b1;    // [E/W, w1_rows]      only when config.bias
  HostTensor w2;    // [E/W, H, P]
  HostTensor b2;    // [E/W, H]            only when config.bias
  HostTensor dout;  // [S_r, H]            only for backward
};

struct Problem {
  Config config;
  int world_size = 1;
  HostTensor wg;                  // [E, H], replicated on every rank
  std::vector<RankInputs> ranks;  // one per rank
  bool backward = false;
  double d_aux = 0.0;  // upstream gradient of the load-balance loss (0 when unused)
  double d_z = 0.0;    // upstream gradient of the z-loss (0 when unused)

  std::int64_t tokens(int rank) const { return ranks.at(static_cast<std::size_t>(rank)).x.dim(0); }
};

// The routing record of one rank (SPEC §2.9).
struct Routing {
  HostTensor topk_index;               // int32 [S_r, k]
  HostTensor topk_weight;              // float [S_r, k]
  HostTensor kept;                     // uint8 [S_r, k]
  std::vector<std::int64_t> routed;    // [E] tokens per expert before capacity
  std::vector<std::int64_t> accepted;  // [E] tokens per expert after capacity
};

struct RankOutputs {
  HostTensor out;  // [S_r, H]
  Routing routing;
  double aux_loss = 0.0;
  double z_loss = 0.0;
  // Backward only.
  HostTensor dx;   // [S_r, H]
  HostTensor dwg;  // [E, H]  this rank's contribution
  HostTensor dw1;  // [E/W, w1_rows, H]  summed over every token from every rank
  HostTensor db1;  // [E/W, w1_rows]     only when config.bias
  HostTensor dw2;  // [E/W, H, P]
  HostTensor db2;  // [E/W, H]           only when config.bias
};

struct Results {
  std::vector<RankOutputs> ranks;
  // Wall-clock seconds by phase name ("forward", "backward", and backend-specific stages).
  std::map<std::string, double> seconds;
};

// A routing decided elsewhere (a backend's), replayed by the reference (SPEC §4).
struct RoutingOverride {
  std::vector<HostTensor> topk_index;  // per rank, int32 [S_r, k]
  std::vector<HostTensor> kept;        // per rank, uint8 [S_r, k]
};

// Random inputs for a call: x, dout ~ N(0, 1); wg, w1, w2 (and biases) ~ U(±1/√fan_in) as
// nn.Linear initialises them. Values are drawn in double from `seed` and rounded to the layer's
// dtype, so every backend and the reference see the same numbers. Deterministic in the seed.
Problem make_random_problem(const Config& config, int world_size,
                            const std::vector<std::int64_t>& tokens_per_rank, std::uint64_t seed,
                            bool backward, double d_aux = 0.0, double d_z = 0.0);

// make_random_problem's problem with only rank `rank`'s inputs (the other entries of
// problem.ranks empty; wg, which every rank holds, is there): what a process driving one rank
// of an MPI job needs, at 1/W of the weights' memory. Its values are make_random_problem's.
Problem make_random_rank_problem(const Config& config, int world_size,
                                 const std::vector<std::int64_t>& tokens_per_rank,
                                 std::uint64_t seed, bool backward, double d_aux, double d_z,
                                 int rank);

// Checks every tensor of the problem against the configuration (shapes, element types,
// S_r ≤ max_tokens); throws naming the tensor, the expected and the actual shape or type.
void validate_problem(const Problem& problem);
// The same checks for the configuration, wg and rank `rank`'s inputs only: what a process that
// drives one rank of a multi-process job needs (the other ranks' entries are not read).
void validate_problem_rank(const Problem& problem, int rank);

}  // namespace flashmoe
