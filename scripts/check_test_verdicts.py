#!/usr/bin/env python3
"""Checks that every test's verdict counts its exit status. Run by CTest (test
`test_verdicts`):

  - no CTest test sets PASS_REGULAR_EXPRESSION: with it CTest decides on the output alone and
    ignores the exit status (`echo check: PASS; exit 3` passes). Tests that must also print
    something run through tests/mpi/expect_success.sh, which requires both;
  - no CTest test sets WILL_FAIL: a test meant to fail checks how it failed
    (tests/mpi/expect_job_failure.sh), since any crash would pass it;
  - every shell script under tests/ sets pipefail, so that a command failing inside a pipe
    fails the script.

Usage: check_test_verdicts.py CTEST BUILD_DIR. Prints one line per breach and exits 1, or
`test verdicts: N tests, M shell scripts, every exit status counts` and exits 0.
Python 3 standard library only.
"""
from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FORBIDDEN = ("PASS_REGULAR_EXPRESSION", "WILL_FAIL")
PIPEFAIL = re.compile(r"^\s*set\s+-[a-z]*o\s+pipefail\b|^\s*set\s+-o\s+pipefail\b", re.MULTILINE)


def main(ctest: str, build_dir: str) -> int:
    listing = subprocess.run([ctest, "--show-only=json-v1", "--test-dir", build_dir],
                             check=True, capture_output=True, text=True).stdout
    tests = json.loads(listing)["tests"]
    breaches = []
    for test in tests:
        for prop in test.get("properties", []):
            if prop["name"] in FORBIDDEN and prop["value"] not in (False, "OFF", "0", "FALSE"):
                breaches.append(f"{test['name']}: sets {prop['name']}; its exit status would "
                                "not count (use tests/mpi/expect_success.sh)")
    scripts = sorted((ROOT / "tests").rglob("*.sh"))
    for script in scripts:
        if not PIPEFAIL.search(script.read_text()):
            breaches.append(f"{script.relative_to(ROOT)}: does not `set -o pipefail`")
    for line in breaches:
        print(line)
    if breaches:
        return 1
    print(f"test verdicts: {len(tests)} tests, {len(scripts)} shell scripts, every exit status "
          "counts")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: check_test_verdicts.py CTEST BUILD_DIR")
    sys.exit(main(sys.argv[1], sys.argv[2]))
