# Warnings and sanitizers applied to every flashmoe target through one interface target.
add_library(flashmoe_warnings INTERFACE)
target_compile_options(flashmoe_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough>)
if(FLASHMOE_WERROR)
  target_compile_options(flashmoe_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()

if(FLASHMOE_SANITIZE)
  if(NOT FLASHMOE_SANITIZE MATCHES "^(address,undefined|undefined,address|address|undefined|thread)$")
    message(FATAL_ERROR "FLASHMOE_SANITIZE='${FLASHMOE_SANITIZE}': allowed are '', "
                        "'address,undefined' or 'thread'")
  endif()
  set(_flashmoe_san -fsanitize=${FLASHMOE_SANITIZE} -fno-omit-frame-pointer -g)
  if(FLASHMOE_SANITIZE MATCHES "undefined")
    list(APPEND _flashmoe_san -fno-sanitize-recover=undefined)
  endif()
  target_compile_options(flashmoe_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${_flashmoe_san}>)
  target_link_options(flashmoe_warnings INTERFACE ${_flashmoe_san})
endif()

# The fuzz build (FLASHMOE_FUZZ, clang): every flashmoe object carries libFuzzer's coverage
# instrumentation; the fuzz executables link libFuzzer itself (-fsanitize=fuzzer).
if(FLASHMOE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FLASHMOE_FUZZ needs clang (libFuzzer); CMAKE_CXX_COMPILER is "
                        "${CMAKE_CXX_COMPILER_ID}")
  endif()
  target_compile_options(flashmoe_warnings INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()
