// Per-worker timing of the CPU engine: seconds by task kind for Results.seconds, and optionally
// every task as a Chrome trace event ({"traceEvents": [{"name", "ph": "X", "ts", "dur", "pid":
// rank, "tid": worker}, ...]}, times in µs), readable in chrome://tracing or ui.perfetto.dev.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flashmoe::platform {

struct TraceEvent {
  const char* name;       // static string (task name)
  std::int64_t start_ns;  // steady clock
  std::int64_t duration_ns;
  int rank;
  int worker;
  const char* pass;  // "forward" / "backward"
};

struct WorkerStats {
  std::vector<double> task_seconds;  // [task kinds]
  double subscriber_seconds = 0.0;
  double idle_seconds = 0.0;
  std::vector<TraceEvent> events;  // only when tracing
};

// Writes every event, with times relative to origin_ns, as Chrome trace JSON, and origin_ns
// itself as "origin_steady_ns" (steady clock: comparable between processes of one machine);
// throws flashmoe::Error naming the path when it cannot be written.
void write_chrome_trace(const std::string& path, const std::vector<TraceEvent>& events,
                        std::int64_t origin_ns);

}  // namespace flashmoe::platform
