#!/usr/bin/env python3
"""gradcheck_must_fail.py LAST_RANK -- COMMAND ARGS...

Shows that scripts/run_gradcheck.py can fail: runs COMMAND (the gradient check, under mpirun
or not) with FLASHMOE_TEST_FAULT=engine_wrong_gradient — the engine's dw2 on the last rank
wrong by 1e-5 relative (src/engine/layer_impl.hpp) — and exits 0 only when the check exited 1,
said FAIL, and failed exactly one tensor: w2 of rank LAST_RANK. Any other outcome (a pass, a
crash, another tensor failing) exits 1 with what was seen.
"""
import os
import re
import subprocess
import sys

TENSOR_LINE = re.compile(r"^  (\w+)\s+\d+ entries\s+error \S+\s+(PASS|FAIL)")
RANK_LINE = re.compile(r"^rank (\d+):")


def failing_tensors(output):
    """(rank, tensor) of every FAIL line in the report."""
    rank, failing = None, []
    for line in output.splitlines():
        if match := RANK_LINE.match(line):
            rank = int(match.group(1))
        elif (match := TENSOR_LINE.match(line)) and match.group(2) == "FAIL":
            failing.append((rank, match.group(1)))
    return failing


def main():
    last_rank = int(sys.argv[1])
    command = sys.argv[sys.argv.index("--") + 1:]
    environment = dict(os.environ, FLASHMOE_TEST_FAULT="engine_wrong_gradient")
    finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    print(finished.stdout + finished.stderr)
    failing = failing_tensors(finished.stdout)
    problems = []
    if finished.returncode != 1:
        problems.append(f"exit status {finished.returncode}, expected 1 (a gradient beyond "
                        "tolerance)")
    if "run_gradcheck: FAIL" not in finished.stdout:
        problems.append("no 'run_gradcheck: FAIL' line")
    if failing != [(last_rank, "w2")]:
        problems.append(f"failing tensors {failing}, expected exactly [({last_rank}, 'w2')]")
    if problems:
        print("EXPECT FAILED: " + "; ".join(problems))
        return 1
    print(f"EXPECT OK: the wrong dw2 of rank {last_rank} was caught, and nothing else failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
