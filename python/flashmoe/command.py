"""The `flashmoe` command (src/cli) from Python: where it is and how to start it, alone or as
the ranks of an MPI job. run_moe() runs `flashmoe run` through this module, so the summary,
the configuration readers and the checks are the command's own, not a second copy in Python.

The command is looked for, in order:
  1. in a CMake build tree: <build>/flashmoe beside <build>/python/flashmoe/_C (the layout of
     `cmake --build`; PYTHONPATH=<build>/python);
  2. in this interpreter's scripts folder (a venv's bin/), where `pip install .` puts it;
  3. on PATH.
"""
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

from . import _C


def command_path():
    """The `flashmoe` executable this package belongs with; FileNotFoundError naming where it
    was looked for when there is none."""
    build_tree = Path(_C.__file__).resolve().parent.parent.parent
    candidates = []
    if (build_tree / "CMakeCache.txt").is_file():
        candidates.append(build_tree / "flashmoe")
    candidates.append(Path(sysconfig.get_path("scripts")) / "flashmoe")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which("flashmoe")
    if on_path:
        return on_path
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"the flashmoe command was not found (looked in {searched} and on PATH): build it "
        "(`cmake --build build/release --target flashmoe`) or `pip install .`, which installs it")


def mpi_launcher(n_processes):
    """The argument list that starts n_processes ranks: mpirun (or mpiexec) from PATH, with the
    flags Open MPI needs for a root user and for more ranks than cores (the engine's worker
    threads do their own placement, hence no binding). RuntimeError when there is none."""
    launcher = shutil.which("mpirun") or shutil.which("mpiexec")
    if launcher is None:
        raise RuntimeError(
            f"run_moe(n_processes={n_processes}, mpi=True) starts {n_processes} MPI processes "
            "with mpirun or mpiexec, and neither is on PATH: install an MPI launcher (Debian: "
            "apt install openmpi-bin) or run the ranks in this process (mpi=False)")
    version = subprocess.run([launcher, "--version"], capture_output=True, text=True).stdout
    flags = []
    if "Open MPI" in version or "OpenRTE" in version:
        flags = ["--oversubscribe", "--bind-to", "none"]
        if os.geteuid() == 0:
            flags.append("--allow-run-as-root")
    return [launcher, "-np", str(n_processes), *flags]
