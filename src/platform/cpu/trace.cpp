#include "platform/cpu/trace.hpp"

#include <fstream>

#include "flashmoe/error.hpp"

namespace flashmoe::platform {

void write_chrome_trace(const std::string& path, const std::vector<TraceEvent>& events,
                        std::int64_t origin_ns) {
  std::ofstream out(path);
  FLASHMOE_CHECK(out.good(), "trace: cannot open '", path, "' for writing");
  out << "{\"traceEvents\":[";
  bool first = true;
  for (const TraceEvent& e : events) {
    out << (first ? "\n" : ",\n");
    first = false;
    out << "{\"name\":\"" << e.name << "\",\"cat\":\"" << e.pass
        << "\",\"ph\":\"X\",\"ts\":" << static_cast<double>(e.start_ns - origin_ns) * 1e-3
        << ",\"dur\":" << static_cast<double>(e.duration_ns) * 1e-3 << ",\"pid\":" << e.rank
        << ",\"tid\":" << e.worker << "}";
  }
  // The origin on the steady clock, so traces of processes on one machine can be aligned
  // (scripts/netns/plot_timeline.py); viewers ignore keys they do not know.
  out << "\n],\"displayTimeUnit\":\"ms\",\"origin_steady_ns\":" << origin_ns << "}\n";
  FLASHMOE_CHECK(out.good(), "trace: writing '", path, "' failed");
}

}  // namespace flashmoe::platform
