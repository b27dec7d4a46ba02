#!/usr/bin/env python3
"""Checks that the code's citations of the contract and the design resolve.

Comments and docstrings cite docs/spec.md and docs/design.md by section number:
`SPEC §2.5`, `SPEC §2.1–2.5, §2.8`, `SPEC §§2.4–2.5`, `DESIGN §3`, `docs/spec.md §4`. This
script scans src/, include/, tests/ and python/ (*.hpp *.cpp *.cu *.cuh *.h *.py *.txt
*.cmake *.sh) for such citations and checks that every section number cited is a numbered heading
of the document (`## 2 Forward`, `### 2.5 Slot assignment`; `## 2. Forward` and `## §2 ...`
are read too). Headings are parsed from the documents at every run, so nothing here lists
the sections.

A range (`§2.1–2.5`) must have both ends and every sibling between them; a list
(`§2.6, §3`, `§2.5, 2.7`) must have each of its items.

Prints one line per unresolved section, `path:line: SPEC §2.10 not found in docs/spec.md`,
and exits 1; otherwise prints `doc refs: N references, all resolve` and exits 0.

  --bare   also check citations written without a document name (`// §2.7: ...`), taken to
           mean docs/spec.md unless another name (e.g. `MPI-3.1 §11.7`) stands right before.
  --root   the repository root (default: the parent of this script's folder).

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

SCAN_DIRS = ("src", "include", "tests", "python")
SCAN_SUFFIXES = (".hpp", ".cpp", ".cu", ".cuh", ".h", ".py", ".txt", ".cmake", ".sh")
SKIP_DIRS = {"__pycache__", ".git", "build", ".venv", "node_modules"}

DOCS = {"SPEC": "docs/spec.md", "DESIGN": "docs/design.md"}

NUM = r"\d+(?:\.\d+)*"
DASH = r"[–—-]"  # en dash, em dash, hyphen
ITEM = rf"{NUM}(?:{DASH}{NUM})?"
# A further list item: `, §3`, `and §2.8`, or a bare dotted number `, 2.7`.
MORE = rf"(?:\s*(?:,|and|&)\s*(?:§\s*{ITEM}|\d+\.\d+(?:\.\d+)*(?:{DASH}{NUM})?(?!\w)(?!\.\d)))"
SECTIONS = rf"§§?\s*(?P<sections>{ITEM}{MORE}*)"
# Between the name and `§`: blanks, or a line break into the next comment line.
GAP = r"[ \t]*(?:\n[ \t]*(?://+|#+|\*+|--)?[ \t]*)?"
PREFIX = (
    r"(?P<name>\bSPEC(?:\.md)?|\bDESIGN(?:\.md)?"
    r"|(?<![\w-])(?:[\w.-]+/)*(?:spec|design)\.md)"
)
CITATION = re.compile(PREFIX + GAP + SECTIONS)
BARE = re.compile(r"(?<![\w§])" + SECTIONS)
# A word right before a bare `§` that names some other document (`MPI-3.1 §11.7`).
OTHER_NAME = re.compile(r"[A-Za-z][\w.+-]*\s*$")

HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?:§\s*)?(" + NUM + r")\.?(?=\s|$)")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def doc_key(name: str) -> str:
    """SPEC, SPEC.md, docs/spec.md, ../docs/spec.md → SPEC; likewise DESIGN."""
    base = name.rsplit("/", 1)[-1]
    return "SPEC" if base.lower().startswith("spec") else "DESIGN"


def headings(path: pathlib.Path) -> set[tuple[int, ...]] | None:
    """Section numbers of the numbered headings of a Markdown file; None if it is missing."""
    if not path.is_file():
        return None
    found: set[tuple[int, ...]] = set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        match = HEADING.match(line)
        if match:
            found.add(parse_number(match.group(1)))
    return found


def parse_number(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def show(number: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in number)


def cited_numbers(sections: str) -> list[tuple[int, ...]]:
    """Every section a citation's list names, ranges expanded over their siblings."""
    numbers: list[tuple[int, ...]] = []
    for item in re.split(r"\s*(?:,|and|&)\s*", sections.strip()):
        item = item.lstrip("§").strip()
        if not item:
            continue
        ends = re.split(DASH, item)
        first = parse_number(ends[0])
        if len(ends) == 1:
            numbers.append(first)
            continue
        last = parse_number(ends[1])
        if len(first) == len(last) and first[:-1] == last[:-1] and first[-1] <= last[-1]:
            numbers.extend(first[:-1] + (i,) for i in range(first[-1], last[-1] + 1))
        else:
            numbers.extend([first, last])
    return numbers


def source_files(root: pathlib.Path):
    for top in SCAN_DIRS:
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if any(part in SKIP_DIRS for part in path.relative_to(root).parts[:-1]):
                continue
            if path.is_file() and path.name.endswith(SCAN_SUFFIXES):
                yield path


def citations(text: str, bare: bool):
    """(document key, offset, section list) of every citation in a file's text."""
    taken: list[tuple[int, int]] = []
    for match in CITATION.finditer(text):
        taken.append(match.span())
        yield doc_key(match.group("name")), match.start(), match.group("sections")
    if not bare:
        return
    for match in BARE.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        line_start = text.rfind("\n", 0, match.start()) + 1
        if OTHER_NAME.search(text[line_start : match.start()]):
            continue
        yield "SPEC", match.start(), match.group("sections")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parent.parent)
    parser.add_argument("--bare", action="store_true",
                        help="also check § citations that name no document (as docs/spec.md)")
    args = parser.parse_args()
    root = args.root.resolve()

    known = {key: headings(root / doc) for key, doc in DOCS.items()}
    count = 0
    problems: list[str] = []
    for path in source_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        relative = path.relative_to(root).as_posix()
        for key, offset, sections in citations(text, args.bare):
            count += 1
            line = text.count("\n", 0, offset) + 1
            doc = DOCS[key]
            for number in cited_numbers(sections):
                if known[key] is None:
                    problems.append(f"{relative}:{line}: {key} §{show(number)} not found "
                                    f"in {doc} (the file does not exist)")
                elif number not in known[key]:
                    problems.append(f"{relative}:{line}: {key} §{show(number)} not found in {doc}")

    for problem in problems:
        print(problem)
    if problems:
        print(f"doc refs: {count} references, {len(problems)} unresolved", file=sys.stderr)
        return 1
    print(f"doc refs: {count} references, all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
