#include "cli/accuracy_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "reference/reference.hpp"

namespace flashmoe::cli {
namespace {

struct SquaredSums {
  double difference = 0.0;
  double reference = 0.0;
  bool shape_mismatch = false;
  void add(const HostTensor& a, const HostTensor& b) {
    if (a.shape() != b.shape()) {
      shape_mismatch = true;
      return;
    }
    for (std::int64_t i = 0; i < b.numel(); ++i) {
      const double d = a.get(i) - b.get(i);
      difference += d * d;
      reference += b.get(i) * b.get(i);
    }
  }
  double error() const {
    // A result of the wrong shape cannot be compared: report it as infinitely wrong.
    if (shape_mismatch) return std::numeric_limits<double>::infinity();
    return reference > 0.0 ? std::sqrt(difference / reference) : std::sqrt(difference);
  }
};

HostTensor scalar(double v) {
  HostTensor t(ElementType::f64, {1});
  t.set(0, v);
  return t;
}

std::string format_error(double e) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2e", e);
  return buffer;
}

std::string padded(std::string text, std::size_t width) {
  text.resize(std::max(width, text.size()), ' ');
  return text;
}

}  // namespace

double relative_l2(const HostTensor& a, const HostTensor& b) {
  SquaredSums sums;
  sums.add(a, b);
  return sums.error();
}

double tolerance_for(const Config& config) {
  switch (config.dtype) {
    case DType::fp64:
      return 1e-12;
    case DType::fp32:
      return config.allow_tf32 ? 5e-3 : 1e-5;
    case DType::bf16:
    case DType::fp16:
      return 2e-2;
  }
  return 0.0;
}

RoutingOverride routing_of(const Results& results) {
  RoutingOverride routing;
  for (const RankOutputs& rank : results.ranks) {
    routing.topk_index.push_back(rank.routing.topk_index.type() == ElementType::i32
                                     ? rank.routing.topk_index
                                     : rank.routing.topk_index.to(ElementType::i32));
    routing.kept.push_back(rank.routing.kept.type() == ElementType::u8
                               ? rank.routing.kept
                               : rank.routing.kept.to(ElementType::u8));
  }
  return routing;
}

double CheckRow::worst() const {
  double worst = pooled_error;
  for (double e : rank_errors) {
    if (std::isnan(e)) return e;
    worst = std::max(worst, e);
  }
  return worst;
}

bool CheckRow::passed(double tolerance) const {
  const double w = worst();
  return w <= tolerance;  // false for NaN
}

bool CheckReport::passed() const {
  for (const CheckRow& row : rows)
    if (!row.passed(tolerance)) return false;
  return true;
}

CheckReport check_against_reference(const Problem& problem, const Results& results) {
  const RoutingOverride routing = routing_of(results);
  const Results expected = reference::run(problem, reference::Precision::fp64, &routing);
  const Config& c = problem.config;

  CheckReport report;
  report.tolerance = tolerance_for(c);
  const auto compare = [&](const std::string& name, auto member) {
    CheckRow row;
    row.tensor = name;
    SquaredSums pooled;
    for (std::size_t r = 0; r < results.ranks.size(); ++r) {
      const HostTensor& a = member(results.ranks[r]);
      const HostTensor& b = member(expected.ranks.at(r));
      SquaredSums one;
      one.add(a, b);
      pooled.add(a, b);
      row.rank_errors.push_back(one.error());
    }
    row.pooled_error = pooled.error();
    report.rows.push_back(std::move(row));
  };
  compare("out", [](const RankOutputs& o) -> const HostTensor& { return o.out; });
  if (problem.backward) {
    compare("dx", [](const RankOutputs& o) -> const HostTensor& { return o.dx; });
    compare("dwg", [](const RankOutputs& o) -> const HostTensor& { return o.dwg; });
    compare("dw1", [](const RankOutputs& o) -> const HostTensor& { return o.dw1; });
    if (c.bias) compare("db1", [](const RankOutputs& o) -> const HostTensor& { return o.db1; });
    compare("dw2", [](const RankOutputs& o) -> const HostTensor& { return o.dw2; });
    if (c.bias) compare("db2", [](const RankOutputs& o) -> const HostTensor& { return o.db2; });
  }
  // Losses are scalars per rank; held in one-element tensors so they share the arithmetic.
  const auto compare_loss = [&](const std::string& name, double RankOutputs::*loss) {
    CheckRow row;
    row.tensor = name;
    SquaredSums pooled;
    for (std::size_t r = 0; r < results.ranks.size(); ++r) {
      const HostTensor a = scalar(results.ranks[r].*loss);
      const HostTensor b = scalar(expected.ranks.at(r).*loss);
      SquaredSums one;
      one.add(a, b);
      pooled.add(a, b);
      row.rank_errors.push_back(one.error());
    }
    row.pooled_error = pooled.error();
    report.rows.push_back(std::move(row));
  };
  if (c.aux_loss) compare_loss("l_aux", &RankOutputs::aux_loss);
  if (c.z_loss) compare_loss("l_z", &RankOutputs::z_loss);
  return report;
}

void print_check(std::ostream& out, const CheckReport& report, const Config& config) {
  const std::size_t ranks = report.rows.empty() ? 0 : report.rows.front().rank_errors.size();
  const bool per_rank = ranks <= 4;
  out << "check: relative L2 error vs the fp64 reference (routing replayed), tolerance "
      << format_error(report.tolerance) << " (" << to_string(config.dtype)
      << (config.dtype == DType::fp32 && config.allow_tf32 ? " + tf32" : "") << ")\n";
  std::string header = "  tensor ";
  if (per_rank) {
    for (std::size_t r = 0; r < ranks; ++r) {
      header += "  " + padded("rank " + std::to_string(r), 9);
    }
  } else {
    header += "  " + padded("worst rank", 20);
  }
  header += "  " + padded("all", 9) + "  verdict\n";
  out << header;
  for (const CheckRow& row : report.rows) {
    out << "  " << padded(row.tensor, 7);
    if (per_rank) {
      for (double e : row.rank_errors) out << "  " << padded(format_error(e), 9);
    } else {
      std::size_t worst = 0;
      for (std::size_t r = 1; r < row.rank_errors.size(); ++r)
        if (!(row.rank_errors[r] <= row.rank_errors[worst])) worst = r;
      std::string cell =
          "  " + format_error(row.rank_errors[worst]) + " (rank " + std::to_string(worst) + ")";
      cell.resize(std::max<std::size_t>(cell.size(), 22), ' ');
      out << cell;
    }
    out << "  " << padded(format_error(row.pooled_error), 9) << "  "
        << (row.passed(report.tolerance) ? "PASS" : "FAIL") << '\n';
  }
  out << "check: " << (report.passed() ? "PASS" : "FAIL") << '\n';
}

}  // namespace flashmoe::cli
