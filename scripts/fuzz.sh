#!/usr/bin/env bash
# Fuzzes the file readers: builds their libFuzzer targets (preset fuzz: clang, ASan + UBSan;
# tests/fuzz) and runs each for FLASHMOE_FUZZ_SECONDS seconds (default 15), starting from its
# seed corpus tests/fuzz/corpus/<target>/ (read only; what a run learns stays in
# build/fuzz/corpus/<target>/ for the next). Exits 0 when no target found anything, 1 when one
# did — the input is kept as build/fuzz/findings/<target>-crash-* (or leak-, timeout-, oom-);
# once fixed, it belongs in tests/fuzz/corpus/<target>/, which the normal suite replays — and
# 77 (skipped) where clang's libFuzzer is missing. Set FLASHMOE_FUZZ_TARGETS to run fewer.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FLASHMOE_FUZZ_SECONDS:-15}
targets=${FLASHMOE_FUZZ_TARGETS:-"config flashdmoe meta npy"}

probe='extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }'
if ! command -v clang++ >/dev/null 2>&1 ||
   ! clang++ -x c++ -fsanitize=fuzzer -o /dev/null - <<<"$probe" >/dev/null 2>&1; then
  echo "fuzz: skipped: clang++ with libFuzzer not found (scripts/setup.sh installs clang)"
  exit 77
fi

echo "fuzz: building (preset fuzz)"
mkdir -p build
if ! cmake --preset fuzz >build/fuzz-configure.log 2>&1; then
  cat build/fuzz-configure.log; exit 1
fi
cmake --build --preset fuzz || exit 1

mkdir -p build/fuzz/findings
failed=()
for target in $targets; do
  dict=tests/fuzz/json.dict
  [[ $target == npy ]] && dict=tests/fuzz/npy.dict
  work=build/fuzz/corpus/$target log=build/fuzz/$target.log
  mkdir -p "$work"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: over 2 GB is a memory bomb.
  build/fuzz/tests/fuzz/fuzz_$target -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -dict="$dict" -artifact_prefix="build/fuzz/findings/$target-" -print_final_stats=1 \
    "$work" "tests/fuzz/corpus/$target" >"$log" 2>&1
  status=$?
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
  corpus=$(find "$work" -type f | wc -l)
  if [[ $status -eq 0 ]]; then
    echo "fuzz: $target: ${runs:-?} inputs in ${seconds} s (${rate:-?}/s), corpus $corpus: nothing found"
  else
    echo "fuzz: $target: FOUND A FAILURE (status $status); the end of $log:"
    tail -n 40 "$log"
    failed+=("$target")
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: failures in: ${failed[*]} (inputs in build/fuzz/findings/)"
  exit 1
fi
