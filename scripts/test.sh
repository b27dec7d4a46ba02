#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run the whole test suite:
#   release     the release build's CTest suite (C++ units, reference, engine, command line,
#               MPI, Python);
#   asan        the same C++ suite under AddressSanitizer + UndefinedBehaviorSanitizer;
#   tsan        the engine's tests under ThreadSanitizer, every processor group of 4 threads
#               (FLASHMOE_TEST_GROUP_SIZE), so the group-cooperative actors are raced too;
#   avx2        the CPU-kernel tests (GEMM, engine, baseline, bench; label cpu_kernels) again
#               with oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA) and OpenBLAS at its Haswell
#               kernels (OPENBLAS_CORETYPE), so that the GEMM paths of AVX2-only CPUs (OpenBLAS,
#               bf16 widened to fp32) run on every machine, whatever its CPU;
#   fuzz        the file readers (configuration, FlashDMoE format, meta.json, .npy) fuzzed with
#               libFuzzer under ASan + UBSan, 15 s each from the seed corpus in tests/fuzz/corpus
#               (scripts/fuzz.sh; clang, else skipped);
#   mutants     the suite shown to bite: a handful of deliberate one-line bugs, each built in a
#               scratch copy of the tree (build/mutants) and required to fail the tests meant
#               to catch it (scripts/mutation_check.py);
#   fresh_root  set-up from nothing: a minimal Debian 12 root (debootstrap), the README's first
#               command inside it (scripts/fresh_root_check.sh; needs root, else skipped);
# then print each stage's duration and one closing summary line: `flashmoe: N passed, N failed, N skipped`, with every
# skipped test and its reason listed above it. Set FLASHMOE_TEST_STAGES to a subset (e.g.
# "release asan") to run fewer stages.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1

stages=${FLASHMOE_TEST_STAGES:-"release asan tsan avx2 fuzz mutants fresh_root"}
total_passed=0 total_failed=0 total_skipped=0 failed_stages=() skipped=() stage_times=()

# Runs ctest for one preset (its remaining arguments go to ctest) and adds its counts to the
# totals. A test CTest did not run is a skip: GTEST_SKIP, or a test CTest could not start.
run_ctest_stage() {
  local stage=$1 preset=$2; shift 2
  echo "=== [$stage] build ($preset)"
  if ! scripts/build.sh "$preset"; then
    echo "=== [$stage] BUILD FAILED"
    failed_stages+=("$stage(build)"); total_failed=$((total_failed + 1)); return
  fi
  echo "=== [$stage] test"
  local log=build/$preset/ctest-$stage.log junit=build/$preset/ctest-$stage.xml
  rm -f "$junit"
  ctest --preset "$preset" -j "$(nproc)" --output-junit "$PWD/$junit" "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local line failed total count=0
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of" "$log" | tail -1)
  if [[ -n $line ]]; then
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    failed=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
    if [[ -f $junit ]]; then
      while IFS= read -r entry; do
        [[ -n $entry ]] || continue
        skipped+=("[$stage] $entry"); count=$((count + 1))
      done < <(python3 scripts/ctest_skips.py "$junit")
    fi
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + count))
    total_passed=$((total_passed + total - failed - count))
  else
    echo "=== [$stage] no CTest summary line (ctest status $status)"
    total_failed=$((total_failed + 1))
  fi
  if [[ $status -ne 0 ]]; then failed_stages+=("$stage"); fi
}

# A stage that is one script: 0 passed, 77 skipped (its first output line says why), else failed.
run_script_stage() {
  local stage=$1; shift
  echo "=== [$stage] $*"
  mkdir -p build
  local log=build/$stage.log
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  case $status in
    0) total_passed=$((total_passed + 1)) ;;
    77) total_skipped=$((total_skipped + 1)); skipped+=("[$stage] $(head -n 1 "$log")") ;;
    *) total_failed=$((total_failed + 1)); failed_stages+=("$stage") ;;
  esac
}

for stage in $stages; do
  stage_start=$SECONDS
  case $stage in
    release) run_ctest_stage release release ;;
    asan) run_ctest_stage asan asan ;;
    tsan) FLASHMOE_TEST_GROUP_SIZE=4 run_ctest_stage tsan tsan -L tsan ;;
    avx2) ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell run_ctest_stage avx2 release -L cpu_kernels ;;
    fuzz) run_script_stage fuzz scripts/fuzz.sh ;;
    mutants) run_script_stage mutants python3 scripts/mutation_check.py ;;
    fresh_root) run_script_stage fresh_root scripts/fresh_root_check.sh ;;
    *) echo "unknown stage '$stage' (allowed: release asan tsan avx2 fuzz mutants fresh_root)"; exit 2 ;;
  esac
  stage_times+=("$stage $((SECONDS - stage_start)) s")
  echo "=== [$stage] took $((SECONDS - stage_start)) s"
done

echo
echo "stage times: ${stage_times[*]/%/;} total $SECONDS s"
if ((${#skipped[@]})); then
  echo "skipped:"
  printf '  %s\n' "${skipped[@]}"
fi
if ((${#failed_stages[@]})); then
  echo "FAILED stages: ${failed_stages[*]}"
fi
echo "flashmoe: $total_passed passed, $total_failed failed, $total_skipped skipped"
((${#failed_stages[@]} == 0))
