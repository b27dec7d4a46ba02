// oneDNN objects shared by the CPU kernels that call the library (gemm_onednn.cpp,
// activate_onednn.cpp): one engine, and one lock around every creation and release of oneDNN
// objects (gemm_onednn.cpp explains why ThreadSanitizer needs it).
#pragma once

#include <mutex>

#include "dnnl.hpp"

namespace flashmoe::cpu::detail {

const dnnl::engine& onednn_cpu_engine();
std::mutex& onednn_creation_mutex();
dnnl::stream make_onednn_stream();  // takes the creation lock

}  // namespace flashmoe::cpu::detail
