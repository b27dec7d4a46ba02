// Numbers with a fixed count of decimals ("47.3"), as the run summary and the benchmark report
// print them: one formatting rule for every human-readable table.
#pragma once

#include <cstdio>
#include <string>

namespace flashmoe {

inline std::string fixed_text(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

}  // namespace flashmoe
