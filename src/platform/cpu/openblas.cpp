#include "platform/cpu/openblas.hpp"

#include <dlfcn.h>  // dlmopen: glibc's, with _GNU_SOURCE (g++ defines it)

#include <cstdlib>

namespace flashmoe::cpu {
namespace {

// Debian 12's libopenblas0-pthread (multiarch directory of x86-64).
constexpr const char* kDebianOpenBlas =
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0";

struct Loaded {
  OpenBlas library;
  bool usable = false;
  std::string why_not;
};

Loaded load() {
  Loaded out;
  const char* override_path = std::getenv("FLASHMOE_OPENBLAS");
  const std::string path =
      override_path != nullptr && *override_path != '\0' ? override_path : kDebianOpenBlas;
  // In a link namespace of its own (openblas.hpp says why). Never closed: the library stays
  // for the life of the process, as its kernels may be running on any thread until exit.
  void* handle = dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    out.why_not = "OpenBLAS not loaded from " + path + " (" + (error ? error : "dlmopen failed") +
                  "; scripts/setup.sh installs libopenblas0-pthread)";
    return out;
  }
  const auto sgemm = reinterpret_cast<CblasSgemm>(dlsym(handle, "cblas_sgemm"));
  const auto config = reinterpret_cast<const char* (*)()>(dlsym(handle, "openblas_get_config"));
  const auto corename =
      reinterpret_cast<const char* (*)()>(dlsym(handle, "openblas_get_corename"));
  const auto set_threads = reinterpret_cast<void (*)(int)>(dlsym(handle, "openblas_set_num_threads"));
  const auto get_threads = reinterpret_cast<int (*)()>(dlsym(handle, "openblas_get_num_threads"));
  if (sgemm == nullptr || config == nullptr || corename == nullptr || set_threads == nullptr ||
      get_threads == nullptr) {
    out.why_not = path + " lacks one of cblas_sgemm, openblas_get_config, openblas_get_corename, " +
                  "openblas_set_num_threads, openblas_get_num_threads";
    return out;
  }
  out.library = {sgemm, path, corename(), config()};
  // Every call on the calling thread: the engine's workers are the parallelism.
  set_threads(1);
  if (get_threads() != 1) {
    out.why_not = path + " did not take a thread count of 1 (it reports " +
                  std::to_string(get_threads()) + ")";
    return out;
  }
  out.usable = true;
  return out;
}

}  // namespace

const OpenBlas* openblas(std::string* why_not) {
  static const Loaded loaded = load();
  if (!loaded.usable && why_not != nullptr) *why_not = loaded.why_not;
  return loaded.usable ? &loaded.library : nullptr;
}

}  // namespace flashmoe::cpu
