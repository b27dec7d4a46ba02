# CUDA is optional: FLASHMOE_CUDA=AUTO enables it when a CUDA compiler is found.
# CMake 3.25 does not know CUDA C++20, so the standard flag is passed by hand, and the
# architectures are explicit (sm_80 for Ampere, sm_90a for Hopper): never PTX JIT. sm_90a machine
# code runs on every compute-capability-9.0 GPU (H100, H200, GH200) and admits Hopper-only
# instructions, so a plain sm_90 build would only duplicate it (and cost CI a third of the
# kernel's compile time).
set(FLASHMOE_HAVE_CUDA OFF)
set(FLASHMOE_CUDA_ARCHS "80;90a" CACHE STRING
    "CUDA architectures to build machine code for (sm_80 for 8.x, sm_90a for Hopper)")
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
    # Machine code for each architecture of FLASHMOE_CUDA_ARCHS, and no PTX: a GPU it does not
    # name refuses the kernel (cuda::unavailable_reason says so) rather than JIT-compiling it.
    set(FLASHMOE_CUDA_FLAGS -std=c++20 --expt-relaxed-constexpr)
    foreach(arch ${FLASHMOE_CUDA_ARCHS})
      list(APPEND FLASHMOE_CUDA_FLAGS -gencode=arch=compute_${arch},code=sm_${arch})
    endforeach()
  elseif(FLASHMOE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "FLASHMOE_CUDA=ON but no CUDA compiler was found (set CUDACXX or "
                        "CMAKE_CUDA_COMPILER, or use FLASHMOE_CUDA=AUTO/OFF)")
  endif()
endif()
message(STATUS "flashmoe: CUDA targets ${FLASHMOE_HAVE_CUDA}")
