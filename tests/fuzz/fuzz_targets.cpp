#include "fuzz_targets.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "config/flashdmoe_format.hpp"
#include "config/json_document.hpp"
#include "flashmoe/config.hpp"
#include "flashmoe/error.hpp"
#include "io/npy.hpp"
#include "io/run_layout.hpp"

namespace flashmoe::fuzz {
namespace {

// A property that does not hold: abort, which libFuzzer reports with the input and gtest as a
// crashed test.
void require(bool holds, const char* property) {
  if (!holds) {
    std::fprintf(stderr, "fuzz property failed: %s\n", property);
    std::abort();
  }
}

// One scratch file per process for read_npy, removed when the process ends. In /dev/shm where
// there is one: writing each input to a file on disk makes the target fifty times slower.
class ScratchFile {
 public:
  ScratchFile()
      : path_((std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                         : std::filesystem::temp_directory_path()) /
              ("flashmoe_fuzz_" + std::to_string(::getpid()) + ".npy")) {}
  ~ScratchFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::string& write(std::string_view bytes) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path_string_ = path_.string();
  }

 private:
  std::filesystem::path path_;
  std::string path_string_;
};

bool same_tensor(const HostTensor& a, const HostTensor& b) {
  return a.type() == b.type() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

}  // namespace

void config_reader(std::string_view bytes) {
  LoadedConfig loaded;
  try {
    loaded = parse_config_text(bytes, "fuzz.json");
  } catch (const Error&) {
    return;
  }
  const Config again = config_from_json(config_to_json(loaded.config), "round trip");
  require(again == loaded.config, "a configuration read back from its JSON is the same");
}

void flashdmoe_reader(std::string_view bytes) {
  try {
    const auto object = config_detail::parse_json_object(bytes, "fuzz.json");
    validate(config_detail::config_from_flashdmoe(object, "fuzz.json").config, 1);
  } catch (const Error&) {
  }
}

void meta_reader(std::string_view bytes) {
  try {
    io::parse_meta(bytes, "meta.json");
  } catch (const Error&) {
  }
}

void npy_reader(std::string_view bytes) {
  static ScratchFile scratch;
  const std::string& path = scratch.write(bytes);
  std::optional<HostTensor> decoded, read;
  try {
    decoded = io::decode_npy(bytes, path);
  } catch (const Error&) {
  }
  try {
    read = io::read_npy(path);
  } catch (const Error&) {
  }
  require(decoded.has_value() == read.has_value(), "decode_npy and read_npy refuse together");
  if (decoded) require(same_tensor(*decoded, *read), "decode_npy and read_npy agree");
}

}  // namespace flashmoe::fuzz
