#include "common/memory_available.hpp"

#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace flashmoe {
namespace {

// The value in KiB of the line "key:   N kB" of a /proc file, in bytes.
std::optional<std::size_t> proc_kib(const char* path, const std::string& key) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    std::size_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return std::nullopt;
}

}  // namespace

std::optional<MemoryAvailable> memory_available() {
  std::optional<MemoryAvailable> best;
  if (const auto system = proc_kib("/proc/meminfo", "MemAvailable"))
    best = MemoryAvailable{*system, "MemAvailable in /proc/meminfo"};
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    const std::size_t used = proc_kib("/proc/self/status", "VmSize").value_or(0);
    const std::size_t cap = static_cast<std::size_t>(limit.rlim_cur);
    const std::size_t left = cap > used ? cap - used : 0;
    if (!best || left < best->bytes)
      best = MemoryAvailable{left, "the address-space limit (ulimit -v " +
                                       std::to_string(cap / 1024) + ") above this process's " +
                                       format_bytes(static_cast<double>(used))};
  }
  return best;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 4) {
    bytes /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

}  // namespace flashmoe
