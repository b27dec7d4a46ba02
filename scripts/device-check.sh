#!/usr/bin/env bash
# The GPU checks, as ONE command for a lent GPU machine (docs/cuda.md, "On a GPU"): it must fit
# in 8 minutes on one H200. That machine has nvcc, CMake, ninja, cuobjdump and compute-sanitizer
# but no package registry, so the build is the GPU engine's own (FLASHMOE_CPU_ENGINE=OFF: no
# oneDNN, OpenMP, MPI or Python) with the header-only and source dependencies carried in .deps/
# (scripts/setup.sh stages them):
#   device tool: run  command="bash scripts/device-check.sh"
#                     carry=[".deps/cutlass/cutlass_library/source/include", ".deps/device"]
# Steps, each timed and logged under $OUT (or build/device-check/ when OUT is unset):
#   1. what the machine is (GPU, driver, nvcc, CMake);
#   2. configure and build for sm_90a only (the H200's own target; CI builds all three);
#   3. the SASS check and the GPU test binary (tests/cuda: the engine against the fp64
#      reference, W = 1, 2, 4, every dtype, bitwise repeatability, timeouts);
#   4. flashmoe_cuda_bench on the seed grid (<date>-<gpu>.md and .json in the output folder;
#      commit them to bench/results/);
#   5. the persistent kernel once under compute-sanitizer memcheck and racecheck (small shape).
# The benchmark and the sanitizer run under their own time limits (BENCH_LIMIT_S,
# SANITIZER_LIMIT_S), so that one slow step cannot use up the machine's time: the sanitizer,
# whose duration is the hardest to foresee (racecheck instruments every shared-memory access of
# a persistent kernel), goes last.
# Exit status: 0 when every step passed, else 1; the last lines are a table of the steps.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/build/device-check}
mkdir -p "$out"
build=build/device
results=()
failed=0

# step NAME COMMAND...: runs it with its output in $out/NAME.log (and on the terminal).
step() {
  local name=$1; shift
  local start=$SECONDS
  echo "=== $name: $*"
  "$@" 2>&1 | tee "$out/$name.log"
  local status=${PIPESTATUS[0]}
  local took=$((SECONDS - start))
  results+=("$(printf '%-10s %-6s %4d s' "$name" "$([[ $status -eq 0 ]] && echo ok || echo FAIL)" "$took")")
  ((status == 0)) || failed=1
  return "$status"
}

machine() {
  date -u +%Y-%m-%dT%H:%M:%SZ
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
  nproc
}

configure_and_build() {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DFLASHMOE_CPU_ENGINE=OFF -DFLASHMOE_CUDA=ON -DFLASHMOE_CUDA_ARCHS=90a \
    -DFLASHMOE_CUTLASS_INCLUDE="$PWD/.deps/cutlass/cutlass_library/source/include" \
    -DCMAKE_PREFIX_PATH="$PWD/.deps/device" \
    -DFLASHMOE_GTEST_SOURCE_DIR="$PWD/.deps/device/googletest" &&
    cmake --build "$build" -j "$(nproc)"
}

gpu_tests() {
  ctest --test-dir "$build" --output-on-failure --timeout 300 -j 2 \
    --output-junit "$out/ctest.xml" -R "cuda|GridPlan|Cuda"
}

sanitize() {
  local binary=$build/tests/cuda/test_cuda_engine
  local filter=CudaEngine.DroplessAndDefaultTilesMatchTheReference
  local limit=$((${SANITIZER_LIMIT_S:-180} / 2))
  timeout "$limit" compute-sanitizer --tool memcheck --error-exitcode 9 "$binary" \
      --gtest_filter="$filter" &&
    timeout "$limit" compute-sanitizer --tool racecheck --racecheck-report hazard \
      --error-exitcode 9 "$binary" --gtest_filter="$filter"
}

bench() {
  local binary=$build/src/bench/cuda/flashmoe_cuda_bench
  if [[ ! -x $binary ]]; then
    echo "no benchmark binary in this build ($binary): nothing to measure"
    return 1
  fi
  timeout "${BENCH_LIMIT_S:-240}" "$binary" --out "$out"
}

step machine machine
if step build configure_and_build; then
  step tests gpu_tests
  step bench bench
  step sanitizer sanitize
fi

echo
echo "step       result  time"
printf '%s\n' "${results[@]}"
exit "$failed"
