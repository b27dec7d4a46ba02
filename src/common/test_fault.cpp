#include "common/test_fault.hpp"

#include <cstdlib>
#include <string>

#include "flashmoe/error.hpp"

namespace flashmoe {
namespace {

const std::string& requested_sites() {
  static const std::string sites = [] {
    const char* value = std::getenv("FLASHMOE_TEST_FAULT");
    std::string list;
    if (value != nullptr) list.append(",").append(value).append(",");
    return list;
  }();
  return sites;
}

}  // namespace

bool test_fault_requested(std::string_view site) {
  const std::string& sites = requested_sites();
  if (sites.empty()) return false;
  std::string needle;
  needle.append(",").append(site).append(",");
  return sites.find(needle) != std::string::npos;
}

void throw_if_test_fault(std::string_view site) {
  if (test_fault_requested(site))
    FLASHMOE_FAIL("injected test fault at ", site, " (FLASHMOE_TEST_FAULT)");
}

}  // namespace flashmoe
