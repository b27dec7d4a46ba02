"""flashmoe.run_moe: FlashDMoE's Python entry point, on flashmoe's engine.

It runs `flashmoe run` (the command, src/cli) with the configuration and options given, saves
the run to a temporary directory (`--save`, docs/file_layout.md) and reads it back: the
summary, the configuration readers (flashmoe's JSON and FlashDMoE's format), the random inputs
and --check are the command's, so run_moe and `flashmoe run` cannot drift apart.
docs/migrating.md lists what differs from FlashDMoE's run_moe.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import _C
from ._arguments import checked, checked_config_value
from .command import command_path, mpi_launcher
from .saved_run import load_saved_run

# Exit statuses of the command (docs/cli.md).
_REFUSED, _BAD_ARGUMENTS, _CHECK_FAILED = 1, 2, 3


def seed_example_config():
    """FlashDMoE's own example configuration (examples/flashdmoe_config.json), installed next
    to the extension by the build and by pip."""
    return Path(_C.__file__).resolve().parent / "flashdmoe_config.json"


def _option_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)  # --tokens S0,S1,...
    return str(value)


def _config_file(config, scratch):
    """A path for --config: the seed's example for None, a file as given, a dict written out
    (either format: the command tells them apart by their keys)."""
    if config is None:
        return seed_example_config()
    if isinstance(config, dict):
        path = Path(scratch) / "config.json"
        path.write_text(json.dumps(config))
        return path
    path = Path(config)
    if not path.is_file():
        raise FileNotFoundError(f"run_moe: configuration file {str(path)!r} does not exist")
    return path


def run_moe(config=None, n_processes=1, backend=None, backward=False, check=False, *,
            mpi=False, save=None, **overrides):
    """One MoE layer call on random inputs, as `flashmoe run` makes it; prints its summary.

    config: a file in flashmoe's JSON format or FlashDMoE's, a dict of either, or None for
      FlashDMoE's example (H = P = 2048, E = 64, k = 2, 8192 tokens per rank).
    n_processes: the expert-parallel ranks W. mpi=False: W ranks in one process (the
      command's threads); mpi=True: W MPI processes started with mpirun (RuntimeError when no
      launcher is on PATH).
    backend: "cpu" (the engine) or "reference"; None: the command's default.
    backward: also run the backward (a random dout); check: compare with the fp64 reference.
    save: a directory to keep the run in (`--save`, docs/file_layout.md); None: a temporary
      one, removed once read (the summary then leaves out the command's `saved to` line).
    overrides: any option of `flashmoe run`, as keyword arguments: configuration keys
      (hidden=256, top_k=1, dtype="bf16", ...) and tokens=128 or tokens=[128, 64], seed=1,
      d_aux=0.01, workers=2, ... (docs/cli.md). An unknown one raises ValueError naming the
      nearest valid name.

    Returns a RunResult (flashmoe.saved_run): out and routing per rank, and the losses, inputs,
    gradients (backward) and check verdict. Raises RuntimeError with the command's message
    when the run fails.
    """
    n_processes = checked("n_processes", n_processes, "int")
    if n_processes < 1:
        raise ValueError(f"run_moe: n_processes must be an integer ≥ 1, got {n_processes!r}")
    backend = checked("backend", backend, "str", none_allowed=True)
    backward, check, mpi = (checked(name, value, "bool") for name, value in
                            (("backward", backward), ("check", check), ("mpi", mpi)))
    # Configuration keys among the overrides get the type check of make_config (a str top_k
    # would otherwise reach the command as --top_k=2); the command's other options (tokens,
    # seed, ...) are its own to parse.
    overrides = {key: checked_config_value(key, value) for key, value in overrides.items()}
    with tempfile.TemporaryDirectory(prefix="flashmoe-run-") as scratch:
        saved = Path(save) if save is not None else Path(scratch) / "run"
        arguments = [command_path(), "run", "--config", str(_config_file(config, scratch)),
                     "--save", str(saved)]
        if mpi:
            arguments = mpi_launcher(n_processes) + arguments + ["--transport", "mpi"]
        else:
            arguments += ["--ranks", str(n_processes), "--transport", "local"]
        if backend is not None:
            arguments += ["--backend", backend]
        if backward:
            arguments.append("--backward")
        if check:
            arguments.append("--check")
        arguments += [f"--{key}={_option_text(value)}" for key, value in overrides.items()]
        environment = dict(os.environ)
        if not mpi:
            # Called from inside an MPI job, the command would take itself for one of its ranks.
            environment = {k: v for k, v in environment.items()
                           if not k.startswith(("OMPI_", "PMI", "PMIX_"))}
        finished = subprocess.run(arguments, capture_output=True, text=True, env=environment)
        if save is None:  # the directory is gone once run_moe returns: do not name it
            finished.stdout = "".join(line for line in finished.stdout.splitlines(True)
                                      if not line.startswith(f"saved to {saved}"))
        if finished.stdout:
            print(finished.stdout, end="")
        if finished.stderr and finished.returncode in (0, _CHECK_FAILED):
            print(finished.stderr, end="", file=sys.stderr)  # the command's notes
        if finished.returncode not in (0, _CHECK_FAILED):
            message = finished.stderr.strip() or finished.stdout.strip()
            error = ValueError if finished.returncode == _BAD_ARGUMENTS else RuntimeError
            raise error(f"run_moe: `flashmoe run` exited with status {finished.returncode}: "
                        f"{message}")
        result = load_saved_run(saved)
    result.summary = finished.stdout
    result.notes = finished.stderr
    if check:
        result.check_passed = finished.returncode == 0
    return result
