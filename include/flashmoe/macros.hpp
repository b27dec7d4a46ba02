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
