// Central differences of the fp64 reference against its own backward pass (see gradcheck.hpp).
#include "reference/gradcheck.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>

#include "flashmoe/error.hpp"
#include "flashmoe/problem.hpp"
#include "reference/reference.hpp"

namespace flashmoe::reference {
namespace {

// Pre-activations z [P] of one kept slot (relu only), for the kink test.
struct KeptSlot {
  int rank = 0;
  std::int64_t token = 0;
  std::int64_t expert = 0;
  std::vector<double> z;  // [P]
};

// Decides which perturbations could move a relu pre-activation across 0. Only w1, b1 and x
// enter z = w1·x + b1 (routing is fixed, so wg does not); a perturbation of size `delta` moves
// z_p by delta times the coefficient of the perturbed element, and it is refused when that
// could reach the kink (with a factor 2 to spare).
class ReluKinks {
 public:
  ReluKinks(const Problem& problem, const Results& base) : problem_(problem) {
    const Config& c = problem.config;
    if (c.activation != Activation::relu) return;
    const std::int64_t H = c.hidden, P = c.ffn, k = c.top_k;
    for (int r = 0; r < problem.world_size; ++r) {
      const Routing& routing = base.ranks[static_cast<std::size_t>(r)].routing;
      for (std::int64_t t = 0; t < problem.tokens(r); ++t) {
        for (std::int64_t j = 0; j < k; ++j) {
          if (routing.kept.get(t * k + j) == 0) continue;
          KeptSlot slot{r, t, static_cast<std::int64_t>(routing.topk_index.get(t * k + j)), {}};
          for (std::int64_t p = 0; p < P; ++p) {
            double z = b1(slot.expert, p);
            for (std::int64_t h = 0; h < H; ++h) z += w1(slot.expert, p, h) * x(r, t, h);
            slot.z.push_back(z);
          }
          slots_.push_back(std::move(slot));
        }
      }
    }
  }

  // x[rank][t, h] moves z_p of every slot of token t by delta·w1[e][p, h].
  bool x_near(int rank, std::int64_t index, double delta) const {
    const std::int64_t H = problem_.config.hidden;
    const std::int64_t t = index / H, h = index % H;
    for (const KeptSlot& slot : slots_) {
      if (slot.rank != rank || slot.token != t) continue;
      for (std::size_t p = 0; p < slot.z.size(); ++p)
        if (crosses(slot.z[p], delta * w1(slot.expert, static_cast<std::int64_t>(p), h)))
          return true;
    }
    return false;
  }
  // w1[owner][l, p, h] moves z_p of every slot of expert e by delta·x[t, h].
  bool w1_near(int owner, std::int64_t index, double delta) const {
    const std::int64_t H = problem_.config.hidden, P = problem_.config.ffn;
    const std::int64_t expert = global_expert(owner, index / (P * H));
    const std::int64_t p = index / H % P, h = index % H;
    for (const KeptSlot& slot : slots_)
      if (slot.expert == expert &&
          crosses(slot.z[static_cast<std::size_t>(p)], delta * x(slot.rank, slot.token, h)))
        return true;
    return false;
  }
  // b1[owner][l, p] moves z_p of every slot of expert e by delta.
  bool b1_near(int owner, std::int64_t index, double delta) const {
    const std::int64_t P = problem_.config.ffn;
    const std::int64_t expert = global_expert(owner, index / P), p = index % P;
    for (const KeptSlot& slot : slots_)
      if (slot.expert == expert && crosses(slot.z[static_cast<std::size_t>(p)], delta)) return true;
    return false;
  }

 private:
  static bool crosses(double z, double dz) { return std::abs(z) <= 2.0 * std::abs(dz); }
  std::int64_t local_experts() const { return problem_.config.local_experts(problem_.world_size); }
  std::int64_t global_expert(int owner, std::int64_t local) const {
    return owner * local_experts() + local;
  }
  const RankInputs& owner_of(std::int64_t expert) const {
    return problem_.ranks[static_cast<std::size_t>(expert / local_experts())];
  }
  double w1(std::int64_t expert, std::int64_t p, std::int64_t h) const {
    const std::int64_t H = problem_.config.hidden, R = problem_.config.w1_rows();
    return owner_of(expert).w1.get(((expert % local_experts()) * R + p) * H + h);
  }
  double b1(std::int64_t expert, std::int64_t p) const {
    if (!problem_.config.bias) return 0.0;
    return owner_of(expert).b1.get((expert % local_experts()) * problem_.config.w1_rows() + p);
  }
  double x(int rank, std::int64_t t, std::int64_t h) const {
    return problem_.ranks[static_cast<std::size_t>(rank)].x.get(t * problem_.config.hidden + h);
  }

  const Problem& problem_;
  std::vector<KeptSlot> slots_;
};

// The tensors of one gradient, one per rank holding a part of it.
struct Part {
  int rank = 0;
  HostTensor* value = nullptr;  // inside the probe problem; perturbed in place and restored
  HostTensor analytic;          // same shape
  std::function<bool(std::int64_t index, double delta)> near_kink;  // null: never
};

std::vector<std::int64_t> unravel(std::int64_t index, const Shape& shape) {
  std::vector<std::int64_t> position(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    position[d] = index % shape[d];
    index /= shape[d];
  }
  return position;
}

class Checker {
 public:
  Checker(const GradcheckOptions& options, Problem probe, RoutingOverride routing)
      : options_(options), probe_(std::move(probe)), routing_(std::move(routing)) {
    probe_.backward = false;  // the differences need the forward pass only
  }

  Problem& probe() { return probe_; }
  std::int64_t evaluations() const { return evaluations_; }

  TensorGradcheck check(const std::string& name, std::vector<Part> parts) {
    TensorGradcheck result;
    result.tensor = name;
    std::vector<GradcheckEntry> entries;
    double analytic_sq = 0.0, numeric_sq = 0.0, difference_sq = 0.0;
    for (Part& part : parts) {
      HostTensor& value = *part.value;
      for (std::int64_t i = 0; i < value.numel(); ++i) {
        const double original = value.get(i);
        const double delta = options_.step * std::max(1.0, std::abs(original));
        if (part.near_kink && part.near_kink(i, delta)) {
          ++result.skipped;
          continue;
        }
        // The step actually taken is (v + δ) − (v − δ) as represented, not 2δ.
        const double plus = original + delta, minus = original - delta;
        value.set(i, plus);
        const double loss_plus = loss();
        value.set(i, minus);
        const double loss_minus = loss();
        value.set(i, original);
        const double numeric = (loss_plus - loss_minus) / (plus - minus);
        const double analytic = part.analytic.get(i);
        analytic_sq += analytic * analytic;
        numeric_sq += numeric * numeric;
        difference_sq += (analytic - numeric) * (analytic - numeric);
        ++result.checked;
        entries.push_back({name, part.rank, unravel(i, value.shape()), analytic, numeric});
      }
    }
    result.analytic_norm = std::sqrt(analytic_sq);
    result.numeric_norm = std::sqrt(numeric_sq);
    result.difference_norm = std::sqrt(difference_sq);
    result.error = result.difference_norm / std::max(result.numeric_norm, 1.0);
    result.passed = result.error <= options_.tolerance;
    const auto gap = [](const GradcheckEntry& e) { return std::abs(e.analytic - e.numeric); };
    std::stable_sort(
        entries.begin(), entries.end(),
        [&](const GradcheckEntry& a, const GradcheckEntry& b) { return gap(a) > gap(b); });
    const std::size_t keep =
        std::min(entries.size(), static_cast<std::size_t>(std::max(options_.worst_entries, 0)));
    result.worst.assign(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(keep));
    return result;
  }

 private:
  // L of the probe with the unperturbed routing replayed; summed in a fixed order.
  double loss() {
    ++evaluations_;
    const Results results = run(probe_, Precision::fp64, &routing_);
    double total = 0.0;
    for (int r = 0; r < probe_.world_size; ++r) {
      const RankOutputs& out = results.ranks[static_cast<std::size_t>(r)];
      const HostTensor& dout = probe_.ranks[static_cast<std::size_t>(r)].dout;
      for (std::int64_t i = 0; i < dout.numel(); ++i) total += dout.get(i) * out.out.get(i);
      total += probe_.d_aux * out.aux_loss + probe_.d_z * out.z_loss;
    }
    return total;
  }

  const GradcheckOptions& options_;
  Problem probe_;
  RoutingOverride routing_;
  std::int64_t evaluations_ = 0;
};

}  // namespace

GradcheckReport gradcheck(const GradcheckOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  GradcheckReport report;
  report.options = options;
  Config config = options.config;
  config.dtype = DType::fp64;
  config.allow_tf32 = false;  // a GPU fp32 option; refused with fp64
  const int W = options.world_size;
  std::vector<std::int64_t> tokens = options.tokens_per_rank;
  if (tokens.empty()) tokens.assign(static_cast<std::size_t>(std::max(W, 0)), 4);
  report.options.config = config;
  report.options.tokens_per_rank = tokens;
  FLASHMOE_CHECK(options.step > 0.0, "gradcheck step = ", options.step, ": must be > 0");

  const Problem problem =
      make_random_problem(config, W, tokens, options.seed, true, options.d_aux, options.d_z);
  const Results base = run(problem, Precision::fp64);
  RoutingOverride routing;
  for (const RankOutputs& out : base.ranks) {
    routing.topk_index.push_back(out.routing.topk_index);
    routing.kept.push_back(out.routing.kept);
  }
  const ReluKinks kinks(problem, base);
  Checker checker(options, problem, std::move(routing));
  Problem& probe = checker.probe();

  // dwg of the replicated gate is the sum of every rank's contribution.
  HostTensor dwg_total = base.ranks[0].dwg;
  for (int r = 1; r < W; ++r)
    for (std::int64_t i = 0; i < dwg_total.numel(); ++i)
      dwg_total.set(i, dwg_total.get(i) + base.ranks[static_cast<std::size_t>(r)].dwg.get(i));

  // One part per rank of a per-rank tensor: value(inputs) inside the probe, analytic(outputs).
  using Member = HostTensor RankInputs::*;
  using Gradient = HostTensor RankOutputs::*;
  using KinkTest = bool (ReluKinks::*)(int, std::int64_t, double) const;
  const auto per_rank = [&](Member value, Gradient analytic, KinkTest kink) {
    std::vector<Part> parts;
    for (int r = 0; r < W; ++r) {
      Part part;
      part.rank = r;
      part.value = &(probe.ranks[static_cast<std::size_t>(r)].*value);
      part.analytic = base.ranks[static_cast<std::size_t>(r)].*analytic;
      if (kink != nullptr)
        part.near_kink = [&kinks, kink, r](std::int64_t i, double d) {
          return (kinks.*kink)(r, i, d);
        };
      parts.push_back(std::move(part));
    }
    return parts;
  };

  report.tensors.push_back(
      checker.check("x", per_rank(&RankInputs::x, &RankOutputs::dx, &ReluKinks::x_near)));
  report.tensors.push_back(checker.check("wg", {Part{0, &probe.wg, dwg_total, nullptr}}));
  report.tensors.push_back(
      checker.check("w1", per_rank(&RankInputs::w1, &RankOutputs::dw1, &ReluKinks::w1_near)));
  if (config.bias)
    report.tensors.push_back(
        checker.check("b1", per_rank(&RankInputs::b1, &RankOutputs::db1, &ReluKinks::b1_near)));
  report.tensors.push_back(
      checker.check("w2", per_rank(&RankInputs::w2, &RankOutputs::dw2, nullptr)));
  if (config.bias)
    report.tensors.push_back(
        checker.check("b2", per_rank(&RankInputs::b2, &RankOutputs::db2, nullptr)));

  report.passed = true;
  for (const TensorGradcheck& t : report.tensors) {
    report.max_error = std::max(report.max_error, t.error);
    report.checked += t.checked;
    report.skipped += t.skipped;
    report.passed = report.passed && t.passed;
  }
  report.evaluations = checker.evaluations();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::string format_report(const GradcheckReport& report) {
  const GradcheckOptions& o = report.options;
  const Config& c = o.config;
  std::ostringstream out;
  char line[256];
  out << "gradcheck: fp64 reference vs central differences, routing held fixed\n";
  out << "  H=" << c.hidden << " P=" << c.ffn << " E=" << c.experts << " k=" << c.top_k
      << " activation=" << to_string(c.activation) << " bias=" << (c.bias ? "on" : "off")
      << " normalize_weights=" << (c.normalize_weights ? "on" : "off")
      << " drop_tokens=" << (c.drop_tokens ? "on" : "off")
      << " capacity_factor=" << c.capacity_factor << "\n";
  out << "  world_size=" << o.world_size << " tokens=[";
  for (std::size_t r = 0; r < o.tokens_per_rank.size(); ++r)
    out << (r ? ", " : "") << o.tokens_per_rank[r];
  out << "] seed=" << o.seed << " d_aux=" << o.d_aux << " d_z=" << o.d_z << " step=" << o.step
      << " tolerance=" << o.tolerance << "\n";
  std::snprintf(line, sizeof line, "  %-6s %8s %8s %13s %13s %11s  %s\n", "tensor", "checked",
                "skipped", "|analytic|", "|numeric|", "error", "result");
  out << line;
  for (const TensorGradcheck& t : report.tensors) {
    std::snprintf(line, sizeof line, "  %-6s %8lld %8lld %13.6e %13.6e %11.3e  %s\n",
                  t.tensor.c_str(), static_cast<long long>(t.checked),
                  static_cast<long long>(t.skipped), t.analytic_norm, t.numeric_norm, t.error,
                  t.passed ? "ok" : "FAIL");
    out << line;
  }
  out << "  error = |a - n|_2 / max(|n|_2, 1) per tensor; worst entries:\n";
  for (const TensorGradcheck& t : report.tensors) {
    for (const GradcheckEntry& e : t.worst) {
      std::ostringstream where;
      where << e.tensor << " rank " << e.rank << " [";
      for (std::size_t d = 0; d < e.position.size(); ++d) where << (d ? ", " : "") << e.position[d];
      where << "]";
      std::snprintf(line, sizeof line, "    %-24s analytic %+.12e  numeric %+.12e  diff %.2e\n",
                    where.str().c_str(), e.analytic, e.numeric, std::abs(e.analytic - e.numeric));
      out << line;
    }
  }
  if (report.skipped > 0)
    out << "  " << report.skipped
        << " entries skipped: their step would cross relu's kink at z = 0\n";
  std::snprintf(line, sizeof line,
                "%s: max error %.3e (tolerance %.1e), %lld entries, %lld "
                "evaluations, %.2f s\n",
                report.passed ? "PASS" : "FAIL", report.max_error, o.tolerance,
                static_cast<long long>(report.checked), static_cast<long long>(report.evaluations),
                report.seconds);
  out << line;
  return out.str();
}

}  // namespace flashmoe::reference
