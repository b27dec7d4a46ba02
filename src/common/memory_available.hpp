// How much more memory this process may take: the smaller of what the system has available
// (MemAvailable in /proc/meminfo) and what its address-space limit (RLIMIT_AS, `ulimit -v`)
// leaves above its current size (VmSize in /proc/self/status). What a component checks its
// footprint against before allocating, so that an impossible request is refused up front with
// its cause instead of failing later as "out of memory".
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace flashmoe {

struct MemoryAvailable {
  std::size_t bytes = 0;
  std::string source;  // what limits it, in words: "MemAvailable in /proc/meminfo", ...
};

// nullopt when neither figure can be read (not Linux, no /proc).
std::optional<MemoryAvailable> memory_available();

// "1.5 GiB", "37.6 MiB", "812 KiB", "96 B".
std::string format_bytes(double bytes);

}  // namespace flashmoe
