#!/usr/bin/env bash
# expect_success.sh REGEX... -- COMMAND ARGS...
# Runs a command that is meant to SUCCEED and checks both that it exited 0 and that its output
# (stdout and stderr) has a line matching each REGEX (grep -E). CTest's PASS_REGULAR_EXPRESSION
# alone would pass a command that printed the words and then failed (`echo check: PASS; exit 3`),
# so the tests use this instead.
set -uo pipefail
regexes=()
while [ "$1" != "--" ]; do
  regexes+=("$1")
  shift
done
shift
output=$("$@" 2>&1)
status=$?
printf '%s\n' "$output"
echo "---- exit status ${status}"
if [ "$status" -ne 0 ]; then
  echo "EXPECT FAILED: the command exited ${status}, not 0"
  exit 1
fi
for regex in "${regexes[@]}"; do
  if ! grep -Eq -- "$regex" <<<"$output"; then
    echo "EXPECT FAILED: no line of the output matches /${regex}/"
    exit 1
  fi
done
echo "EXPECT OK: exit status 0 and the output matches"
