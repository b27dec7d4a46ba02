// OpenBLAS's sgemm, loaded at run time and run on the calling thread only. On CPUs whose best
// oneDNN 2.6 kernel is its AVX2 "gemm:jit" family, OpenBLAS is up to 2.8× faster on the operand
// layouts of the backward (docs/benchmarks.md, "CPUs and GEMM paths"), so the GEMM path table
// (gemm_paths.cpp) routes there when this library is present.
//
// Which build, and how it is loaded (each measured, 2026-12-01, Debian 12's OpenBLAS 0.3.21):
//  - the engine's workers are the parallelism and each calls one GEMM on its own thread, so
//    OpenBLAS must run single-threaded and be safe for concurrent callers. Debian's *serial*
//    build is not: 4 threads calling sgemm on their own small operands got wrong bits in 21–92
//    of 6000 calls per run (Haswell kernels; 0–2 with Cooperlake's). The *pthread* build with
//    its thread count set to 1 got none in 20 runs, so that is the build used;
//  - its thread count is a process-wide setting, and torch's BLAS (libblas.so.3) is that same
//    pthread build, so setting it in the process's own copy would make torch single-threaded.
//    The library is therefore loaded with dlmopen into a link namespace of its own: a private
//    instance whose settings nothing else sees, and which neither interposes on nor is
//    interposed by another BLAS the process has loaded;
//  - loaded at run time, it is not needed to build, and its absence only removes the route.
#pragma once

#include <string>

namespace flashmoe::cpu {

// cblas_sgemm's signature (row-major = 101, no transpose = 111, transpose = 112).
using CblasSgemm = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                            const float* a, int lda, const float* b, int ldb, float beta,
                            float* c, int ldc);

struct OpenBlas {
  CblasSgemm sgemm = nullptr;
  std::string path;      // the file loaded
  std::string corename;  // the kernel family OpenBLAS chose for this CPU, e.g. "Haswell"
  std::string config;    // openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
};

// The library, loaded on first use (thread-safe) and kept for the life of the process, or
// nullptr when it cannot be used; then *why_not (if given) says why. FLASHMOE_OPENBLAS names
// the file to load instead of Debian's openblas-pthread one.
const OpenBlas* openblas(std::string* why_not = nullptr);

}  // namespace flashmoe::cpu
