#include "bench/matmul_rate.hpp"

#include <barrier>
#include <thread>
#include <vector>

#include "bench/timing.hpp"
#include "flashmoe/error.hpp"
#include "flashmoe/half.hpp"
#include "platform/cpu/gemm.hpp"

namespace flashmoe::bench {
namespace {

// One thread's operands (only the pair of the requested type is filled). The values only need
// to be finite and non-trivial: the rate of a dense kernel does not depend on them.
struct Operands {
  std::vector<float> a32, b32;
  std::vector<bfloat16> a16, b16;
  std::vector<float> c;
  const void* a() const { return a16.empty() ? static_cast<const void*>(a32.data()) : a16.data(); }
  const void* b() const { return b16.empty() ? static_cast<const void*>(b32.data()) : b16.data(); }
};

Operands make_operands(ElementType type, std::int64_t n) {
  const std::size_t count = static_cast<std::size_t>(n * n);
  Operands ops;
  ops.c.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const float va = static_cast<float>(i % 7) * 0.25f - 0.75f;
    const float vb = static_cast<float>(i % 5) * 0.125f - 0.25f;
    if (type == ElementType::bf16) {
      ops.a16.push_back(bfloat16::from_float(va));
      ops.b16.push_back(bfloat16::from_float(vb));
    } else {
      ops.a32.push_back(va);
      ops.b32.push_back(vb);
    }
  }
  return ops;
}

}  // namespace

MatmulRate measure_matmul_rate(ElementType type, std::int64_t size, int threads, int repeats) {
  FLASHMOE_CHECK(type == ElementType::f32 || type == ElementType::bf16,
                 "matmul rate: type = ", to_string(type), " (allowed: f32, bf16)");
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
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Operands& ops = operands[static_cast<std::size_t>(t)];
      cpu::GemmArgs g;
      g.m = g.n = g.k = size;
      g.a = ops.a();
      g.b = ops.b();
      g.c = ops.c.data();
      g.a_type = g.b_type = type;
      g.lda = g.ldb = g.ldc = size;
      sync.arrive_and_wait();  // starts round 0
      for (int round = 0; round < rounds; ++round) {
        cpu::gemm(g);
        sync.arrive_and_wait();  // ends this round, starts the next
      }
    });
  }
  for (std::thread& worker : workers) worker.join();

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
  return rate;
}

}  // namespace flashmoe::bench
