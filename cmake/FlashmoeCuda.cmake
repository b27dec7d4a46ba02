# CUDA is optional: FLASHMOE_CUDA=AUTO enables it when a CUDA compiler is found.
# CMake 3.25 does not know CUDA C++20, so the standard flag is passed by hand, and the
# architectures are explicit (sm_80, sm_90, and sm_90a for Hopper-only paths): never PTX JIT.
set(FLASHMOE_HAVE_CUDA OFF)
if(NOT FLASHMOE_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
    set(CMAKE_CUDA_ARCHITECTURES OFF)
    enable_language(CUDA)
    set(FLASHMOE_HAVE_CUDA ON)
    set(FLASHMOE_CUDA_FLAGS -std=c++20 --expt-relaxed-constexpr
        -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=sm_90
        -gencode=arch=compute_90a,code=sm_90a)
  elseif(FLASHMOE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "FLASHMOE_CUDA=ON but no CUDA compiler was found (set CUDACXX or "
                        "CMAKE_CUDA_COMPILER, or use FLASHMOE_CUDA=AUTO/OFF)")
  endif()
endif()
message(STATUS "flashmoe: CUDA targets ${FLASHMOE_HAVE_CUDA}")
