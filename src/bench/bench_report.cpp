// The benchmark's two outputs: a table for people and a JSON document for tools. Both carry
// the same numbers; docs/benchmarks.md explains each field.
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bench/benchmark.hpp"
#include "common/fixed_text.hpp"

namespace flashmoe::bench {
namespace {

std::string significant(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.3g", value);
  return buffer;
}

std::string padded(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

std::string fraction_text(double fraction) {
  return fraction < 0.0 ? "-" : fixed_text(100.0 * fraction, 1) + "%";
}

}  // namespace

std::string format_report(const BenchReport& r) {
  const BenchOptions& o = r.options;
  const Config& c = o.config;
  std::ostringstream out;
  out << "flashmoe bench: W=" << o.world_size
      << (r.transport == "mpi" ? " ranks (MPI processes)" : " ranks (in one process)") << " × "
      << o.tokens_per_rank << " tokens, H=" << c.hidden << " P=" << c.ffn << " E=" << c.experts
      << " k=" << c.top_k << " " << to_string(c.activation) << " " << to_string(c.dtype)
      << " capacity_factor=" << c.capacity_factor << (c.drop_tokens ? "" : " dropless")
      << (c.bias ? " bias" : "") << "\n";
  out << "threads: " << r.threads << " (" << r.workers_per_rank << " per rank; "
      << r.hardware_threads << (r.transport == "mpi" ? " hardware on rank 0's node" : " hardware")
      << "), load average at start: " << r.load_average << "\n";
  out << "cpu" << (r.transport == "mpi" ? " (rank 0's node)" : "") << ": "
      << cpu::describe(r.cpu) << "\n";
  for (const cpu::GemmPath& path : r.gemm_paths)
    if (path.operands != ElementType::f64 || c.dtype == DType::fp64)
      out << "  " << cpu::describe(path.operands) << "\n";
  out << "kept slots: " << r.flops.kept_slots
      << ", credited GFLOP per forward: " << significant(r.flops.forward() / 1e9) << " (experts "
      << significant(r.flops.expert_forward / 1e9) << ", gate "
      << significant(r.flops.gate_forward / 1e9) << ")\n";

  if (!r.matmul.empty()) {
    out << "\nceiling (library matmul, " << r.matmul.front().size << "³, one call per thread"
        << (r.transport == "mpi" ? ", every process at once; 1 thread: the median process" : "")
        << "; * the best library, the ceiling):\n";
    for (const MatmulRate& m : r.matmul) {
      out << (ceiling_rate(r, m.type, m.threads) == &m ? "* " : "  ")
          << padded(std::string(to_string(m.type)), 9)
          << padded(std::to_string(m.threads) + " thread(s)", 13)
          << padded(fixed_text(m.gflops, 1) + " GFLOP/s", 18) << cpu::route_words(m.route)
          << (m.route == cpu::GemmRoute::loop ? "" : ", " + m.kernel) << "\n";
    }
  }

  out << "\n"
      << padded("pass", 18) << padded("backend", 10) << padded("median ms", 11)
      << padded("min ms", 10) << padded("GFLOP/s", 10) << padded("expert GEMM / ceiling", 23)
      << "set-up ms (once)\n";
  for (const Timing& t : r.timings)
    out << padded(t.pass, 18) << padded(t.backend, 10) << padded(fixed_text(t.median * 1e3, 1), 11)
        << padded(fixed_text(t.min * 1e3, 1), 10) << padded(fixed_text(t.gflops, 1), 10)
        << padded(fraction_text(t.expert_gemm_fraction), 23) << fixed_text(t.setup * 1e3, 1)
        << "\n";
  for (const auto& [pass, speedup] : r.speedup)
    out << "speed-up of the engine over the baseline (" << pass << "): " << significant(speedup)
        << "×\n";
  for (const Timing& t : r.timings) {
    if (t.gemm_classes.empty()) continue;
    out << "\nengine GEMM classes, " << t.pass
        << " (per worker thread, task time incl. its epilogue; / the best 1-thread ceiling):\n"
        << padded("class", 21) << padded("layout", 8) << padded("GFLOP", 9)
        << padded("thread-s", 10) << padded("GFLOP/s", 10) << padded("/ ceiling", 11)
        << "kernel\n";
    for (const GemmClassRate& k : t.gemm_classes)
      out << padded(k.name, 21) << padded(std::string(cpu::to_string(k.layout)), 8)
          << padded(significant(k.flops / 1e9), 9) << padded(fixed_text(k.thread_seconds, 3), 10)
          << padded(fixed_text(k.gflops, 1), 10) << padded(fraction_text(k.fraction), 11)
          << k.kernel << "\n";
  }
  return out.str();
}

std::string report_to_json(const BenchReport& r) {
  using nlohmann::json;
  const BenchOptions& o = r.options;
  json doc;
  doc["config"] = json::parse(config_to_json(o.config));
  doc["ranks"] = o.world_size;
  doc["transport"] = r.transport;
  doc["tokens_per_rank"] = o.tokens_per_rank;
  doc["workers_per_rank"] = r.workers_per_rank;
  doc["threads"] = r.threads;
  doc["hardware_threads"] = r.hardware_threads;
  doc["load_average"] = r.load_average;
  doc["cpu"] = {{"model", r.cpu.model},
                {"onednn_version", r.cpu.onednn_version},
                {"onednn_isa", r.cpu.onednn_isa},
                {"isa_cap", r.cpu.isa_cap}};
  json paths = json::object();
  for (const cpu::GemmPath& path : r.gemm_paths) {
    json by_layout = json::object();
    for (const cpu::GemmLayout layout : cpu::kGemmLayouts) {
      const cpu::GemmPath& p = cpu::gemm_path(path.operands, layout);
      by_layout[std::string(cpu::to_string(layout))] = {
          {"route", std::string(cpu::to_string(p.route))}, {"kernel", cpu::library_and_kernel(p)}};
    }
    paths[std::string(to_string(path.operands))] = {{"route", std::string(cpu::to_string(path.route))},
                                                    {"kernel", path.kernel},
                                                    {"reason", path.reason},
                                                    {"layouts", by_layout}};
  }
  doc["gemm_paths"] = paths;
  doc["warmup"] = o.warmup;
  doc["repeats"] = o.repeats;
  doc["flops"] = {{"kept_slots", r.flops.kept_slots},
                  {"gate_forward", r.flops.gate_forward},
                  {"expert_forward", r.flops.expert_forward},
                  {"forward", r.flops.forward()},
                  {"forward_backward", r.flops.forward_backward()}};
  json matmul = json::array();
  for (const MatmulRate& m : r.matmul)
    matmul.push_back({{"type", std::string(to_string(m.type))},
                      {"size", m.size},
                      {"threads", m.threads},
                      {"seconds", m.seconds},
                      {"gflops", m.gflops},
                      {"route", std::string(cpu::to_string(m.route))},
                      {"kernel", m.kernel}});
  doc["matmul"] = matmul;
  json timings = json::array();
  for (const Timing& t : r.timings) {
    json entry = {{"backend", t.backend}, {"pass", t.pass},       {"median_s", t.median},
                  {"min_s", t.min},       {"seconds", t.seconds}, {"setup_s", t.setup},
                  {"flops", t.flops},     {"gflops", t.gflops},   {"stages_s", t.stages}};
    entry["expert_gemm_fraction"] =
        t.expert_gemm_fraction < 0.0 ? json(nullptr) : json(t.expert_gemm_fraction);
    json classes = json::array();
    for (const GemmClassRate& k : t.gemm_classes)
      classes.push_back({{"name", k.name},
                         {"layout", std::string(cpu::to_string(k.layout))},
                         {"kernel", k.kernel},
                         {"flops", k.flops},
                         {"thread_seconds", k.thread_seconds},
                         {"gflops", k.gflops},
                         {"fraction", k.fraction < 0.0 ? json(nullptr) : json(k.fraction)}});
    entry["gemm_classes"] = classes;
    timings.push_back(entry);
  }
  doc["timings"] = timings;
  doc["speedup"] = r.speedup;
  return doc.dump(2) + "\n";
}

}  // namespace flashmoe::bench
