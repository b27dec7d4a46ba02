// Portability macros: the same functions compile for the host (g++) and the device (nvcc).
#pragma once

#if defined(__CUDACC__)
#define FLASHMOE_HOST_DEVICE __host__ __device__
#define FLASHMOE_DEVICE __device__
#else
#define FLASHMOE_HOST_DEVICE
#define FLASHMOE_DEVICE
#endif

#define FLASHMOE_FORCE_INLINE inline __attribute__((always_inline))

// A function the device compiles as a call of its own rather than inlining it: the persistent
// kernel's task actors, its subscriber sweep and its tile GEMMs each get their own register
// allocation, so the kernel's registers are the largest actor's, not the sum of all of them
// (ptxas would otherwise spill). The host inlines as it sees fit.
#if defined(__CUDA_ARCH__)
#define FLASHMOE_DEVICE_NOINLINE __noinline__
#else
#define FLASHMOE_DEVICE_NOINLINE
#endif
