#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run the whole test suite:
#   1. the release build's CTest suite (C++ units, reference, engine, command line);
#   2. the same C++ suite under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the engine's tests under ThreadSanitizer;
# then print one closing summary line. Set FLASHMOE_TEST_STAGES to a subset
# (e.g. "release asan") to run fewer stages.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1

stages=${FLASHMOE_TEST_STAGES:-"release asan tsan"}
total_passed=0 total_failed=0 failed_stages=()

# Runs ctest for one preset and adds its counts to the totals.
run_stage() {
  local preset=$1; shift
  echo "=== [$preset] build"
  if ! scripts/build.sh "$preset"; then
    echo "=== [$preset] BUILD FAILED"
    failed_stages+=("$preset(build)"); total_failed=$((total_failed + 1)); return
  fi
  echo "=== [$preset] test"
  local log=build/$preset/ctest.log
  ctest --preset "$preset" -j "$(nproc)" "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local line failed total
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of" "$log" | tail -1)
  if [[ -n $line ]]; then
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    failed=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
    total_failed=$((total_failed + failed)); total_passed=$((total_passed + total - failed))
  fi
  if [[ $status -ne 0 ]]; then failed_stages+=("$preset"); fi
}

for stage in $stages; do
  case $stage in
    release) run_stage release ;;
    asan) run_stage asan ;;
    tsan) run_stage tsan -L tsan ;;
    *) echo "unknown stage '$stage' (allowed: release asan tsan)"; exit 2 ;;
  esac
done

echo
if ((${#failed_stages[@]})); then
  echo "FAILED stages: ${failed_stages[*]}"
fi
echo "flashmoe: $total_passed passed, $total_failed failed"
((${#failed_stages[@]} == 0))
