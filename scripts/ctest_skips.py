#!/usr/bin/env python3
"""Prints one line per test that CTest did not run, from its JUnit file (ctest --output-junit):
"name: reason", the reason being the message GoogleTest printed under "Skipped" (GTEST_SKIP),
or CTest's own status when the test printed none."""
import sys
import xml.etree.ElementTree as ET


def reason_of(output: str) -> str:
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith(": Skipped") and i + 1 < len(lines):
            reason = lines[i + 1].strip()
            if reason and not reason.startswith("["):
                return reason
    return ""


def main(path: str) -> None:
    for case in ET.parse(path).getroot().iter("testcase"):
        skipped = case.find("skipped")
        if case.get("status") != "notrun" and skipped is None:
            continue
        output = case.findtext("system-out") or ""
        reason = reason_of(output) or (skipped.get("message") if skipped is not None else "")
        print(f"{case.get('name')}: {reason or case.get('status')}")


if __name__ == "__main__":
    main(sys.argv[1])
