// libFuzzer's entry point for one reader: FLASHMOE_FUZZ_TARGET names a function of
// fuzz_targets.hpp (tests/fuzz/CMakeLists.txt builds one executable per reader).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  flashmoe::fuzz::FLASHMOE_FUZZ_TARGET(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
