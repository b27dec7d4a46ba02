// bench_mpi_test: run under mpirun with 2 or 4 ranks. For several configurations, every rank
// runs — on a problem that holds ONLY its own rank's inputs (the other entries are empty, so
// reading them would fail) — the MPI_Alltoallv baseline and the engine over the MPI transport,
// two passes each (the second with new input values in the same tensors), and requires its own
// results to be bitwise equal to the in-process baseline's and engine's for that rank.
// Each rank lists its own mismatches (case, pass, rank, tensor) and goes on; then the verdict is
// reduced over every rank (MPI_Allreduce) before anything is printed, so that rank 0 never
// vouches for ranks it did not check. Exit 0 only when no rank found a mismatch; otherwise every
// rank prints its mismatches on stderr and the job fails (run_mpi_program ends it non-zero).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/baseline.hpp"
#include "bench/mpi/mpi_baseline.hpp"
#include "engine/engine.hpp"
#include "engine/mpi_layer.hpp"
#include "transport/mpi/mpi_check.hpp"
#include "transport/mpi/mpi_program.hpp"

namespace flashmoe {
namespace {

struct Case {
  std::string name;
  Config config;
  std::vector<std::int64_t> tokens;  // tokens of rank r = tokens[r % tokens.size()]
  double d_aux = 0.0, d_z = 0.0;
};

Config small(DType dtype, Activation activation, std::int64_t experts) {
  Config c;
  c.hidden = 24;
  c.ffn = 40;
  c.experts = experts;
  c.top_k = 2;
  c.activation = activation;
  c.dtype = dtype;
  c.max_tokens = 64;
  return c;
}

std::vector<Case> cases(int world) {
  std::vector<Case> list;
  list.push_back({"bf16 gelu", small(DType::bf16, Activation::gelu, 2 * world), {32}});
  Case swiglu{"fp32 swiglu bias uneven, both losses",
              small(DType::fp32, Activation::swiglu, 2 * world),
              {13, 7, 20, 0},
              0.5,
              0.25};
  swiglu.config.bias = true;
  list.push_back(swiglu);
  Case drops{"fp64 relu heavy drops top-1", small(DType::fp64, Activation::relu, world), {40, 9}};
  drops.config.capacity_factor = 0.5;
  drops.config.top_k = 1;
  list.push_back(drops);
  return list;
}

bool bitwise_equal(const HostTensor& a, const HostTensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  return a.type() == b.type() && a.shape() == b.shape() &&
         std::equal(static_cast<const std::byte*>(a.raw()),
                    static_cast<const std::byte*>(a.raw()) + a.nbytes(),
                    static_cast<const std::byte*>(b.raw()));
}

// Adds to `mismatches` one line per output of `got` that is not bitwise `want`'s.
void compare(std::vector<std::string>& mismatches, const std::string& where, const RankOutputs& got,
             const RankOutputs& want) {
  const std::vector<std::pair<const char*, std::pair<const HostTensor*, const HostTensor*>>>
      tensors{{"out", {&got.out, &want.out}},
              {"topk_index", {&got.routing.topk_index, &want.routing.topk_index}},
              {"topk_weight", {&got.routing.topk_weight, &want.routing.topk_weight}},
              {"kept", {&got.routing.kept, &want.routing.kept}},
              {"dx", {&got.dx, &want.dx}},
              {"dwg", {&got.dwg, &want.dwg}},
              {"dw1", {&got.dw1, &want.dw1}},
              {"db1", {&got.db1, &want.db1}},
              {"dw2", {&got.dw2, &want.dw2}},
              {"db2", {&got.db2, &want.db2}}};
  for (const auto& [name, pair] : tensors)
    if (!bitwise_equal(*pair.first, *pair.second))
      mismatches.push_back(where + ": " + name + " differs from the in-process result");
  if (got.routing.routed != want.routing.routed || got.routing.accepted != want.routing.accepted)
    mismatches.push_back(where + ": routed/accepted counts differ");
  if (got.aux_loss != want.aux_loss || got.z_loss != want.z_loss)
    mismatches.push_back(where + ": losses differ");
}

// New values in every input tensor of `problem`, keeping shapes and storage.
void perturb(Problem& problem) {
  for (RankInputs& in : problem.ranks)
    for (HostTensor* t : {&in.x, &in.dout})
      if (t->defined())
        for (std::int64_t i = 0; i < t->numel(); ++i) t->set(i, 0.5 * t->get(i) + 0.125);
}

// `full` with every rank's inputs but `rank`'s removed (what make_random_rank_problem gives).
Problem own_part(const Problem& full, int rank) {
  Problem part = full;
  for (int r = 0; r < full.world_size; ++r)
    if (r != rank) part.ranks[static_cast<std::size_t>(r)] = RankInputs{};
  return part;
}

// The test's own hook, to show that its verdict is reduced over the ranks:
// BENCH_MPI_TEST_SPOIL_RANK=r makes rank r alone see a wrong in-process engine result.
int spoiled_rank() {
  const char* value = std::getenv("BENCH_MPI_TEST_SPOIL_RANK");
  return value == nullptr ? -1 : std::atoi(value);
}

int run(transport::MpiSession& session) {
  const int rank = session.rank(), world = session.world_size();
  int checked = 0;
  std::vector<std::string> mismatches;  // this rank's
  for (const Case& k : cases(world)) {
    std::vector<std::int64_t> tokens;
    for (int r = 0; r < world; ++r)
      tokens.push_back(k.tokens[static_cast<std::size_t>(r) % k.tokens.size()]);
    Problem full = make_random_problem(k.config, world, tokens, 7, true, k.d_aux, k.d_z);
    Problem mine = own_part(full, rank);

    bench::BaselineLayer baseline =
        bench::make_mpi_baseline(session.comm(), mine, {.workers_per_rank = 2});
    engine::EngineOptions options;
    options.workers_per_rank = 2;
    engine::Layer engine = engine::mpi_layer(session.comm(), mine, options);
    for (int pass = 0; pass < 2; ++pass) {
      if (pass == 1) {
        perturb(full);
        mine = own_part(full, rank);  // same shapes; the layers read mine's new tensors
      }
      const std::string where = k.name + ", pass " + std::to_string(pass + 1) + ", rank " +
                                std::to_string(rank) + " of " + std::to_string(world);
      baseline.forward();
      baseline.backward();
      engine.forward();
      engine.backward();
      const Results want_baseline = bench::run_baseline(full, {.workers_per_rank = 1});
      Results want_engine = engine::run_in_process(full, options);
      const auto own = static_cast<std::size_t>(rank);
      if (rank == spoiled_rank())
        want_engine.ranks[own].out.set(0, want_engine.ranks[own].out.get(0) + 1.0);
      compare(mismatches, where + " (MPI_Alltoallv baseline)", baseline.results().ranks[own],
              want_baseline.ranks[own]);
      compare(mismatches, where + " (engine over MPI)", engine.results().ranks[own],
              want_engine.ranks[own]);
      ++checked;
    }
  }
  int mine = static_cast<int>(mismatches.size()), total = 0;
  FLASHMOE_MPI(MPI_Allreduce(&mine, &total, 1, MPI_INT, MPI_SUM, session.comm()));
  for (const std::string& mismatch : mismatches)
    std::fprintf(stderr, "bench_mpi_test: MISMATCH %s\n", mismatch.c_str());
  if (total > 0) {
    if (rank == 0)
      std::printf("bench_mpi_test: FAILED: %d mismatches over %d ranks (listed on stderr)\n", total,
                  world);
    return 1;
  }
  if (rank == 0)
    std::printf(
        "bench_mpi_test: %d passes on %d ranks: the MPI_Alltoallv baseline and the engine "
        "over MPI are bitwise equal to in-process on every rank\n",
        checked, world);
  return 0;
}

}  // namespace
}  // namespace flashmoe

int main(int argc, char** argv) {
  return flashmoe::transport::run_mpi_program(&argc, &argv, flashmoe::run);
}
