#!/usr/bin/env python3
"""Mutation check: proves that the test suite bites. Each mutant below is one deliberate bug —
one line of the engine, the runtime or the shared math changed — of a kind the suite exists to
catch. For every mutant this script builds only the targets the mutant touches and runs only the
tests that must catch it, and it fails unless every mutant is caught.

The mutants never touch the working tree or its build folders: the tracked and untracked (not
ignored) files are copied into build/mutants/tree (only files whose content changed are
rewritten, so later runs rebuild little), which is configured with the release preset
(build/mutants/tree/build/release). Steps:
  1. the unmutated copy must build and pass every mutant's tests (else a caught mutant would
     prove nothing);
  2. each mutant in turn: the line is replaced (it must occur exactly once, or the script says
     the mutant no longer applies), the targets are rebuilt, the tests run — at least one must
     fail or time out —, and the file is restored. A mutant that does not compile is an error:
     the compiler caught it, not the suite.
Every file is rewritten with a fresh modification time, so Ninja never keeps an object built
from a mutant.

Exit status 0 when every mutant was caught, 1 otherwise; one line per mutant, then
`mutants: N of M caught`. FLASHMOE_BUILD_JOBS sets the build's parallelism (default: all
cores); FLASHMOE_MUTANTS_DIR moves the scratch folder. Python 3 standard library only.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORK = pathlib.Path(os.environ.get("FLASHMOE_MUTANTS_DIR", ROOT / "build" / "mutants"))
TREE = WORK / "tree"
BUILD = TREE / "build" / "release"
TEST_TIMEOUT_S = 300  # a mutant that hangs is caught by the engine's bounded waits well before


@dataclasses.dataclass
class Test:
    executable: str  # path in the build folder
    gtest_filter: str


@dataclasses.dataclass
class Mutant:
    name: str
    bug: str           # what the mutant does, in words
    path: str          # file in the repository
    line: str          # the whole line as it is (leading blanks included)
    mutated: str       # the line that replaces it
    targets: list[str]
    tests: list[Test]


ENGINE_ROUTING = Test("tests/engine/test_engine", "EngineRouting.*")
ENGINE_FP32 = Test("tests/engine/test_engine", "AllActivations/EngineVsReference.*/fp32_*")
SPEC_ROUTING = Test("tests/reference/test_reference", "SpecRouting.*")

MUTANTS = [
    Mutant("capacity_one_fewer",
           "the engine keeps one token fewer per expert than C_r (SPEC §2.4)",
           "src/runtime/rank_state.hpp",
           "                                     s.settings.capacity_factor, s.settings.drop_tokens);",
           "                                     s.settings.capacity_factor, s.settings.drop_tokens)"
           " - (binding.tokens > 1 ? 1 : 0);",
           ["test_engine"], [ENGINE_ROUTING]),
    Mutant("capacity_rounded_down",
           "the shared capacity formula rounds down (reference and engine alike, SPEC §2.4)",
           "src/math/capacity.hpp",
           "  std::int64_t capacity = static_cast<std::int64_t>(std::ceil(exact));",
           "  std::int64_t capacity = static_cast<std::int64_t>(std::floor(exact));",
           ["test_reference"], [SPEC_ROUTING]),
    Mutant("ties_to_the_higher_index",
           "the shared top-k gives an exact tie to the higher expert index (SPEC §2.2)",
           "src/math/topk.hpp",
           "  return a > b || (a == b && ia < ib);",
           "  return a > b || (a == b && ia > ib);",
           ["test_reference"], [SPEC_ROUTING]),
    Mutant("combine_in_reverse_order",
           "combine sums the slots in decreasing j (SPEC §2.7)",
           "src/runtime/combine.hpp",
           "    for (std::int64_t j = 0; j < k; ++j) {",
           "    for (std::int64_t j = k - 1; j >= 0; --j) {",
           ["test_engine"], [Test("tests/engine/test_engine", "EngineCombine.*")]),
    Mutant("combine_without_waiting",
           "the subscriber schedules a token tile's combine without waiting for its returned rows",
           "src/runtime/subscriber.hpp",
           "    if (rows_arrived(s, tile) < expected[tile]) continue;",
           "    (void)expected;  // mutant: the combine no longer waits for the returned rows",
           ["test_engine"], [ENGINE_FP32]),
    Mutant("gate_gradient_sign",
           "the weight normalisation's backward adds Σ dw·w instead of subtracting it (SPEC §3)",
           "src/runtime/gate_backward.hpp",
           "        dp[topk_index[t * k + j]] += (dweight[j] - weighted) / chosen_sum;",
           "        dp[topk_index[t * k + j]] += (dweight[j] + weighted) / chosen_sum;",
           ["test_engine"], [ENGINE_FP32]),
]


def say(text: str) -> None:
    print(text, flush=True)


def source_files() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                                check=True, capture_output=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"mutants: cannot list the source files with git ls-files in {ROOT} ({error}); "
                 "the mutation check needs a git checkout")
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def write(path: pathlib.Path, content: bytes) -> None:
    """Writes content with a fresh modification time (so Ninja rebuilds what depends on it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def sync_tree() -> int:
    """Makes TREE hold exactly the source files; returns how many were (re)written."""
    files = source_files()
    written = 0
    for name in files:
        content = (ROOT / name).read_bytes()
        target = TREE / name
        if not target.is_file() or target.read_bytes() != content:
            write(target, content)
            written += 1
    wanted = set(files)
    for path in TREE.rglob("*"):
        relative = path.relative_to(TREE).as_posix()
        if relative.startswith("build/") or relative == "build":
            continue
        if path.is_file() and relative not in wanted:
            path.unlink()
    return written


def build(targets: list[str], log: pathlib.Path) -> bool:
    if not (BUILD / "build.ninja").is_file():
        with log.open("w") as out:
            if subprocess.run(["cmake", "--preset", "release", "--fresh"], cwd=TREE, stdout=out,
                              stderr=subprocess.STDOUT).returncode != 0:
                return False
    jobs = os.environ.get("FLASHMOE_BUILD_JOBS", str(os.cpu_count() or 1))
    with log.open("a") as out:
        return subprocess.run(["cmake", "--build", str(BUILD), "-j", jobs, "--target", *targets],
                              stdout=out, stderr=subprocess.STDOUT).returncode == 0


def run_test(test: Test) -> tuple[bool, str]:
    """Runs one test selection; returns (passed, what failed)."""
    command = [str(BUILD / test.executable), f"--gtest_filter={test.gtest_filter}"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TEST_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, f"{test.gtest_filter} timed out after {TEST_TIMEOUT_S} s"
    # "[  FAILED  ] Suite.Name (3 ms)", or "..., where GetParam() = ..." for parameterised ones.
    failed = list(dict.fromkeys(re.findall(r"^\[  FAILED  \] ([A-Za-z_][\w/]*\.[\w/]+)",
                                           result.stdout, re.MULTILINE)))
    if result.returncode == 0 and not failed:
        ran = re.search(r"^\[==========\] (\d+) tests? from", result.stdout, re.MULTILINE)
        if ran is None or ran.group(1) == "0":
            return False, f"{test.gtest_filter} selects no test"
        return True, ""
    if failed:
        return False, f"{failed[0]}" + (f" and {len(failed) - 1} more" if len(failed) > 1 else "")
    return False, f"{test.gtest_filter} exited with status {result.returncode}"


def apply(mutant: Mutant) -> bytes | None:
    """Writes the mutant into TREE; returns the original content, or None when the line is not
    found exactly once."""
    path = TREE / mutant.path
    original = path.read_bytes()
    lines = original.decode().split("\n")
    matches = [i for i, line in enumerate(lines) if line == mutant.line]
    if len(matches) != 1:
        return None
    lines[matches[0]] = mutant.mutated
    write(path, "\n".join(lines).encode())
    return original


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    written = sync_tree()
    say(f"mutants: scratch tree {TREE} ({written} files updated)")
    targets = sorted({t for m in MUTANTS for t in m.targets})
    log = WORK / "build.log"
    if not build(targets, log):
        say(f"mutants: the unmutated tree does not build ({log})")
        return 1
    tests = {(t.executable, t.gtest_filter): t for m in MUTANTS for t in m.tests}
    for test in tests.values():
        passed, failure = run_test(test)
        if not passed:
            say(f"mutants: the unmutated tree fails {test.executable} {failure}; "
                "fix the suite before checking mutants")
            return 1
    say(f"mutants: unmutated tree builds and passes {len(tests)} test selections "
        f"({time.monotonic() - start:.0f} s)")

    caught = 0
    for mutant in MUTANTS:
        began = time.monotonic()
        original = apply(mutant)
        if original is None:
            say(f"  {mutant.name}: NO LONGER APPLIES: {mutant.path} does not hold the line "
                f"exactly once: {mutant.line.strip()}")
            continue
        try:
            mutant_log = WORK / f"{mutant.name}.log"
            if not build(mutant.targets, mutant_log):
                say(f"  {mutant.name}: DOES NOT COMPILE ({mutant_log}); a mutant must build")
                continue
            failures = []
            for test in mutant.tests:
                passed, failure = run_test(test)
                if not passed:
                    failures.append(f"{test.executable.rsplit('/', 1)[-1]} {failure}")
            seconds = time.monotonic() - began
            if failures:
                caught += 1
                say(f"  {mutant.name}: caught by {'; '.join(failures)} ({seconds:.0f} s) "
                    f"— {mutant.bug}")
            else:
                say(f"  {mutant.name}: NOT CAUGHT by {', '.join(t.gtest_filter for t in mutant.tests)}"
                    f" ({seconds:.0f} s) — {mutant.bug}")
        finally:
            write(TREE / mutant.path, original)
    say(f"mutants: {caught} of {len(MUTANTS)} caught ({time.monotonic() - start:.0f} s)")
    return 0 if caught == len(MUTANTS) else 1


if __name__ == "__main__":
    sys.exit(main())
