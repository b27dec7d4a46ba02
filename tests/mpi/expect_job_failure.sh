#!/usr/bin/env bash
# expect_job_failure.sh REGEX MAX_SECONDS -- LAUNCHER ARGS...
# Runs an MPI job that is meant to FAIL and checks that it failed the right way:
#   - the job exited non-zero (a rank's failure ended the whole job);
#   - its output matches REGEX (the report names what went wrong);
#   - it ended within MAX_SECONDS (no hang: timeouts and MPI_Abort did their work);
#   - no process of the job is left afterwards (found by a unique --tag argument appended to
#     the command line, which the test program ignores; a command that takes no such argument
#     marks with @TAG@ an argument whose value may carry the tag instead, e.g. a path).
set -uo pipefail
regex=$1
max_seconds=$2
shift 3  # REGEX MAX_SECONDS --
tag="flashmoe-expect-$$-${RANDOM}"
command=()
placed=false
for argument in "$@"; do
  [[ "$argument" == *@TAG@* ]] && placed=true
  command+=("${argument//@TAG@/$tag}")
done
$placed || command+=("--tag=$tag")

start=$(date +%s%N)
output=$("${command[@]}" 2>&1)
status=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
printf '%s\n' "$output"
echo "---- job status ${status} after ${elapsed_ms} ms"

fail() {
  echo "EXPECT FAILED: $*"
  exit 1
}
[ "$status" -ne 0 ] || fail "the job exited 0; the failure should have ended it non-zero"
grep -Eq -- "$regex" <<<"$output" || fail "the output does not match /${regex}/"
[ "$elapsed_ms" -le $((max_seconds * 1000)) ] || fail "took ${elapsed_ms} ms, limit ${max_seconds} s"
# The launcher returns after reaping its children; allow a moment for the process table.
for _ in 1 2 3 4 5; do
  pgrep -f -- "$tag" >/dev/null || break
  sleep 0.2
done
if pgrep -f -- "$tag" >/dev/null; then
  fail "processes left behind: $(pgrep -af -- "$tag")"
fi
echo "EXPECT OK: failed as expected in ${elapsed_ms} ms, nothing left behind"
