#!/usr/bin/env python3
"""Checks that dependencies point one way (docs/design.md §4): every #include "x/..." of the
project's own headers in a layer's files names a layer that layer may use. Prints each include
that breaks the rule as `path:line: <layer> may not include "<header>"` and exits 1; else prints
`layers: N includes in M files, all point down` and exits 0. Run by CTest (test `layering`)."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Layer (a folder, longest prefix wins) → the folders its files may include from. Every layer
# may include its own folder and the public headers (flashmoe/).
BASE = {"flashmoe"}
ALLOWED = {
    "include/flashmoe": set(),
    "src/common": {"common"},
    "src/math": {"math"},
    "src/portable": {"math", "portable"},
    "src/config": {"common", "config"},
    "src/runtime": {"math", "portable", "runtime"},
    "src/platform/cpu": {"common", "math", "portable", "platform/cpu"},
    "src/tile": {"math", "portable", "tile"},
    "src/platform/cuda": {"math", "portable", "tile", "platform/cuda"},
    "src/transport/local": {"common", "portable", "transport/local"},
    "src/transport/mpi": {"common", "portable", "transport/mpi"},
    "src/transport/gpu": {"portable", "transport/gpu"},
    "src/reference": {"common", "math", "reference"},
    # config is part of the common library; meta.json is read with its JSON document reader.
    "src/io": {"common", "config", "io"},
    "src/engine": {"common", "math", "portable", "runtime", "platform/cpu", "transport/local",
                   "transport/mpi", "engine"},
    "src/engine/cuda": {"math", "portable", "runtime", "tile", "platform/cuda", "transport/gpu",
                        "engine/cuda"},
    "src/backends": {"common", "engine", "engine/cuda", "reference", "backends", "runtime",
                     "portable", "math"},
    "src/bench": {"common", "math", "portable", "runtime", "platform/cpu", "transport/local",
                  "transport/mpi", "engine", "bench"},
    "src/bench/cuda": {"common", "math", "platform/cuda", "engine/cuda", "bench", "bench/cuda"},
    "src/cli": {"common", "config", "math", "portable", "runtime", "platform/cpu",
                "transport/local", "transport/mpi", "engine", "reference", "io", "backends",
                "bench", "cli"},
}
SUFFIXES = {".hpp", ".cpp", ".cuh", ".cu", ".h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path: str) -> str | None:
    best = None
    for layer in ALLOWED:
        if path == layer or path.startswith(layer + "/"):
            if best is None or len(layer) > len(best):
                best = layer
    return best


def folder_of(header: str) -> str | None:
    """The layer folder a project header lives in, as written in includes ("runtime/...")."""
    candidates = [layer.split("/", 1)[1] for layer in ALLOWED]
    best = None
    for folder in candidates:
        if header.startswith(folder + "/") and (best is None or len(folder) > len(best)):
            best = folder
    return best


def main() -> int:
    failures, includes, files = [], 0, 0
    for base in ("src", "include"):
        for file in sorted((ROOT / base).rglob("*")):
            if file.suffix not in SUFFIXES:
                continue
            rel = file.relative_to(ROOT).as_posix()
            layer = layer_of(rel)
            if layer is None:
                failures.append(f"{rel}: in no layer; add its folder to scripts/check_layers.py")
                continue
            files += 1
            allowed = ALLOWED[layer] | BASE
            for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                header = match.group(1)
                folder = folder_of(header)
                if folder is None:
                    continue  # a file next to this one, or a test-local header
                includes += 1
                if folder not in allowed:
                    failures.append(f'{rel}:{number}: {layer} may not include "{header}"')
    for failure in failures:
        print(failure)
    if failures:
        return 1
    print(f"layers: {includes} includes in {files} files, all point down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
