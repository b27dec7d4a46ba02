#include "bench/matmul_rate.hpp"

#include <barrier>
#include <vector>

#include "bench/timing.hpp"
#include "common/test_fault.hpp"
#include "common/thread_start.hpp"
#include "flashmoe/error.hpp"
#include "flashmoe/half.hpp"
#include "platform/cpu/gemm.hpp"

namespace flashmoe::bench {
namespace {

// One thread's operands (only the vectors of the requested type are filled). The values only
// need to be finite and non-trivial: the rate of a dense kernel does not depend on them.
struct Operands {
  std::vector<double> a64, b64, c64;
  std::vector<float> a32, b32, c32;
  std::vector<bfloat16> a16, b16;
  const void* a() const { return pick(a64, a32, a16); }
  const void* b() const { return pick(b64, b32, b16); }
  void* c() { return c64.empty() ? static_cast<void*>(c32.data()) : c64.data(); }

 private:
  static const void* pick(const std::vector<double>& d, const std::vector<float>& f,
                          const std::vector<bfloat16>& h) {
    if (!d.empty()) return d.data();
    if (!f.empty()) return f.data();
    return h.data();
  }
};

Operands make_operands(ElementType type, std::int64_t n) {
  const std::size_t count = static_cast<std::size_t>(n * n);
  Operands ops;
  if (type == ElementType::f64)
    ops.c64.resize(count);
  else
    ops.c32.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const float va = static_cast<float>(i % 7) * 0.25f - 0.75f;
    const float vb = static_cast<float>(i % 5) * 0.125f - 0.25f;
    if (type == ElementType::bf16) {
      ops.a16.push_back(bfloat16::from_float(va));
      ops.b16.push_back(bfloat16::from_float(vb));
    } else if (type == ElementType::f64) {
      ops.a64.push_back(va);
      ops.b64.push_back(vb);
    } else {
      ops.a32.push_back(va);
      ops.b32.push_back(vb);
    }
  }
  return ops;
}

}  // namespace

MatmulRate measure_matmul_rate(ElementType type, std::int64_t size, int threads, int repeats,
                               std::optional<cpu::GemmRoute> route) {
  FLASHMOE_CHECK(type == ElementType::f64 || type == ElementType::f32 || type == ElementType::bf16,
                 "matmul rate: type = ", to_string(type), " (allowed: f64, f32, bf16)");
  FLASHMOE_CHECK(size >= 1 && threads >= 1 && repeats >= 1, "matmul rate: size = ", size,
                 ", threads = ", threads, ", repeats = ", repeats, " must all be ≥ 1");
  std::vector<Operands> operands;
  for (int t = 0; t < threads; ++t) operands.push_back(make_operands(type, size));

  // Rounds are separated by a barrier so that every round times all threads working at once.
  const int rounds = repeats + 1;  // the first is the warm-up (primitive creation, page faults)
  std::vector<double> round_seconds;
  Clock::time_point round_start;
  bool started = false;
  std::barrier sync(threads, [&]() noexcept {  // runs once per phase, between the rounds
    if (started) round_seconds.push_back(seconds_since(round_start));
    started = true;
    round_start = Clock::now();
  });
  run_on_new_threads(threads, [&](int t) {
    Operands& ops = operands[static_cast<std::size_t>(t)];
    cpu::GemmArgs g;
    g.m = g.n = g.k = size;
    g.a = ops.a();
    g.b = ops.b();
    g.c = ops.c();
    g.a_type = g.b_type = type;
    g.c_type = type == ElementType::f64 ? ElementType::f64 : ElementType::f32;
    g.lda = g.ldb = g.ldc = size;
    int round = -1;  // −1: before the barrier that starts round 0
    try {
      throw_if_test_fault("bench_ceiling");
      sync.arrive_and_wait();  // starts round 0
      for (round = 0; round < rounds; ++round) {
        if (route)
          cpu::gemm_on(*route, g);
        else
          cpu::gemm(g);
        sync.arrive_and_wait();  // ends this round, starts the next
      }
    } catch (...) {
      // Leave the barrier, so the other threads finish their rounds instead of waiting for
      // this one forever; run_on_new_threads rethrows the error once they have.
      if (round < rounds) sync.arrive_and_drop();
      throw;
    }
  });

  // round_seconds[0] is the warm-up round.
  std::vector<double> timed(round_seconds.begin() + 1, round_seconds.end());
  MatmulRate rate;
  rate.type = type;
  rate.size = size;
  rate.threads = threads;
  rate.seconds = median(timed);
  const double flops = 2.0 * static_cast<double>(size) * static_cast<double>(size) *
                       static_cast<double>(size) * threads;
  rate.gflops = rate.seconds > 0.0 ? flops / rate.seconds / 1e9 : 0.0;
  std::optional<cpu::GemmPath> path = cpu::gemm_path(type);
  if (route && *route != path->route) path = cpu::path_on(cpu::library_of(*route), type);
  FLASHMOE_CHECK(path.has_value(), "matmul rate: route ", cpu::to_string(*route),
                 " cannot run ", to_string(type));
  rate.route = path->route;
  rate.kernel = cpu::library_and_kernel(*path);
  return rate;
}

}  // namespace flashmoe::bench
