#include "cli/run_summary.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "common/fixed_text.hpp"
#include "math/capacity.hpp"
#include "platform/cpu/gemm_paths.hpp"

namespace flashmoe::cli {
namespace {

std::string duration(double seconds) {
  if (seconds < 1e-3) return fixed_text(seconds * 1e6, 1) + " us";
  if (seconds < 1.0) return fixed_text(seconds * 1e3, 2) + " ms";
  return fixed_text(seconds, 3) + " s";
}

template <typename T>
std::string join(const std::vector<T>& values) {
  std::string text;
  for (const T& v : values) text += (text.empty() ? "" : ", ") + std::to_string(v);
  return text;
}

// Counts summed over the source ranks: the load each expert receives from the whole world.
std::vector<std::int64_t> pooled(const Results& results, bool after_capacity,
                                 std::int64_t experts) {
  std::vector<std::int64_t> total(static_cast<std::size_t>(experts), 0);
  for (const RankOutputs& rank : results.ranks) {
    const auto& counts = after_capacity ? rank.routing.accepted : rank.routing.routed;
    for (std::size_t e = 0; e < counts.size() && e < total.size(); ++e) total[e] += counts[e];
  }
  return total;
}

void print_expert_counts(std::ostream& out, const std::vector<std::int64_t>& routed,
                         const std::vector<std::int64_t>& kept) {
  const auto experts = static_cast<std::int64_t>(routed.size());
  if (experts <= kListExpertsUpTo) {
    // One column per expert, wide enough for the largest count.
    const std::int64_t largest =
        std::max<std::int64_t>(*std::max_element(routed.begin(), routed.end()), experts - 1);
    const std::size_t width = std::to_string(largest).size() + 1;
    const auto cell = [width](std::int64_t value) {
      std::string text = std::to_string(value);
      return std::string(width - std::min(width, text.size()), ' ') + text;
    };
    std::string header = "    expert", before = "    routed", after = "    kept  ";
    for (std::int64_t e = 0; e < experts; ++e) {
      const auto i = static_cast<std::size_t>(e);
      header += cell(e);
      before += cell(routed[i]);
      after += cell(kept[i]);
    }
    out << header << '\n' << before << '\n' << after << '\n';
    return;
  }
  const auto stats = [&](const std::vector<std::int64_t>& counts) {
    const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
    const double mean =
        static_cast<double>(std::accumulate(counts.begin(), counts.end(), std::int64_t{0})) /
        static_cast<double>(counts.size());
    return "min " + std::to_string(*lo) + ", mean " + fixed_text(mean, 1) + ", max " +
           std::to_string(*hi);
  };
  out << "    routed: " << stats(routed) << '\n' << "    kept:   " << stats(kept) << '\n';
  // Eight equal-width bins over [0, max] of the routed counts: how many experts fall in each.
  constexpr std::int64_t kBins = 8;
  const std::int64_t top = *std::max_element(routed.begin(), routed.end());
  const std::int64_t width = std::max<std::int64_t>(1, (top + kBins) / kBins);
  std::vector<std::int64_t> bins(kBins, 0);
  for (std::int64_t count : routed)
    ++bins[static_cast<std::size_t>(std::min(count / width, kBins - 1))];
  out << "    experts by routed tokens:";
  for (std::int64_t b = 0; b < kBins; ++b) {
    const std::int64_t lo = b * width;
    const std::int64_t hi = b == kBins - 1 ? top : lo + width - 1;
    if (lo > top) break;
    out << "  [" << lo << "-" << hi << "] " << bins[static_cast<std::size_t>(b)];
  }
  out << '\n';
}

}  // namespace

void print_summary(std::ostream& out, const Problem& problem, const Results& results,
                   std::string_view backend, double wall_seconds) {
  const Config& c = problem.config;
  out << "flashmoe run: backend " << backend << ", " << problem.world_size
      << (problem.world_size == 1 ? " rank" : " ranks") << ", "
      << (problem.backward ? "forward + backward" : "forward only");
  if (problem.backward && (problem.d_aux != 0.0 || problem.d_z != 0.0))
    out << " (d_aux " << problem.d_aux << ", d_z " << problem.d_z << ")";
  out << '\n' << describe(c);
  if (backend.starts_with("cpu")) {
    // The cpu engine's GEMM path decides its speed and its last bits: say which one ran.
    const bool mpi = backend.find("(mpi") != std::string_view::npos;
    out << "  cpu" << (mpi ? " (rank 0's process)" : "") << ": "
        << cpu::describe(cpu::cpu_description()) << '\n'
        << "  "
        << (c.dtype == DType::fp16 ? std::string("fp16 GEMM: none on the CPU")
                                   : cpu::describe(storage_type(c.dtype)))
        << '\n';
  }

  std::vector<std::int64_t> tokens, capacity;
  std::int64_t slots = 0;
  // Tokens from each rank's routing record ([S_r, k]): under MPI rank 0 holds only its own
  // inputs, but every rank's routing record.
  for (const RankOutputs& rank : results.ranks) {
    const std::int64_t S = rank.routing.topk_index.dim(0);
    tokens.push_back(S);
    capacity.push_back(
        math::expert_capacity(S, c.top_k, c.experts, c.capacity_factor, c.drop_tokens));
    slots += S * c.top_k;
  }
  out << "tokens per rank: " << join(tokens) << " (total "
      << std::accumulate(tokens.begin(), tokens.end(), std::int64_t{0})
      << "); capacity per (rank, expert): " << join(capacity) << '\n';

  const auto routed = pooled(results, false, c.experts);
  const auto kept = pooled(results, true, c.experts);
  out << "tokens per expert, all ranks (before / after capacity):\n";
  print_expert_counts(out, routed, kept);
  const std::int64_t kept_slots = std::accumulate(kept.begin(), kept.end(), std::int64_t{0});
  const std::int64_t dropped = slots - kept_slots;
  out << "dropped slots: " << dropped << " of " << slots << " ("
      << fixed_text(slots ? 100.0 * static_cast<double>(dropped) / static_cast<double>(slots) : 0.0,
                    2)
      << "%)\n";

  if (c.aux_loss || c.z_loss) {
    for (std::size_t r = 0; r < results.ranks.size(); ++r) {
      out << "losses, rank " << r << ":";
      if (c.aux_loss) out << " l_aux " << fixed_text(results.ranks[r].aux_loss, 6);
      if (c.z_loss) out << " l_z " << fixed_text(results.ranks[r].z_loss, 6);
      out << '\n';
    }
  }

  // Whole passes ("forward") on the time line; stages ("forward.gate", summed over workers by
  // engines) on one line per pass, so a long stage list stays readable.
  out << "time: " << duration(wall_seconds) << " (backend call)";
  std::map<std::string, std::string> stages;
  for (const auto& [phase, seconds] : results.seconds) {
    const std::size_t dot = phase.find('.');
    if (dot == std::string::npos) {
      out << "; " << phase << " " << duration(seconds);
    } else {
      std::string& line = stages[phase.substr(0, dot)];
      line += (line.empty() ? "" : ", ") + phase.substr(dot + 1) + " " + duration(seconds);
    }
  }
  out << '\n';
  for (const auto& [pass, line] : stages) out << "  " << pass << " stages: " << line << '\n';
}

}  // namespace flashmoe::cli
