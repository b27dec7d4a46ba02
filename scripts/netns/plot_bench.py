#!/usr/bin/env python3
"""plot_bench.py OUTDIR PNG: time per pass vs link bandwidth, engine and baseline.

Reads the bench_w<W>_<rate>_<dtype>[_<delivery>].json files that bench.sh wrote into OUTDIR (the
JSON of `flashmoe bench --json`; the link rate and the MPI delivery are in the file name because
the bench does not know them) and draws one panel per dtype and pass (forward, and
forward+backward where the runs had --backward): the median time of the engine (solid, one line
per delivery) and of the MPI_Alltoallv baseline (dashed) for each W, against the rate on a log
axis. Needs matplotlib (Debian's python3-matplotlib, installed by scripts/setup.sh).
"""
import json
import pathlib
import re
import sys

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI machines
import matplotlib.pyplot as plt  # noqa: E402

NAME = re.compile(r"bench_w(\d+)_([0-9.]+)([kmg]?)bit_([a-z0-9]+)(?:_(messages|rma))?\.json")
SCALE = {"": 1e-9, "k": 1e-6, "m": 1e-3, "g": 1.0}  # → Gbit/s


def load(outdir):
    """{(dtype, pass): {(W, line): {gbit: median_ms}}} plus the CPU model."""
    series, cpu = {}, ""
    for path in sorted(pathlib.Path(outdir).glob("bench_w*.json")):
        match = NAME.fullmatch(path.name)
        if not match:
            continue
        ranks, gbit = int(match[1]), float(match[2]) * SCALE[match[3]]
        if path.stat().st_size == 0:  # the bench creates its JSON first: a run that did not end
            print(f"plot_bench.py: {path.name} is empty (that run did not finish); left out")
            continue
        report = json.loads(path.read_text())
        cpu = report["cpu"]["model"]
        delivery = match[5] or "rma"  # files without the suffix predate the messages delivery
        for timing in report["timings"]:
            line = timing["backend"]
            if line == "engine":
                line = f"engine ({delivery})"
            points = series.setdefault((match[4], timing["pass"]), {}).setdefault((ranks, line), {})
            # The baseline is measured again beside each delivery: one point per rate, the first.
            points.setdefault(gbit, timing["median_s"] * 1e3)
    return series, cpu


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_bench.py OUTDIR PNG")
    series, cpu = load(sys.argv[1])
    if not series:
        sys.exit(f"plot_bench.py: no bench_w*_<rate>_<dtype>.json in {sys.argv[1]}")
    figure, axes = plt.subplots(1, len(series), figsize=(5.5 * len(series), 4.5), squeeze=False)
    for axis, ((dtype, pass_name), lines) in zip(axes[0], sorted(series.items())):
        for (ranks, line), by_rate in sorted(lines.items()):
            points = sorted(by_rate.items())
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                      linestyle="-" if line.startswith("engine") else "--",
                      label=f"{line}, W={ranks}")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("link rate per host (Gbit/s, tc tbf)")
        axis.set_ylabel(f"{pass_name}, median (ms)")
        axis.set_title(f"{dtype}, {pass_name}: one rank per namespace, TCP")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.suptitle(f"flashmoe bench over shaped links ({cpu}, 2 cores)")
    figure.tight_layout()
    figure.savefig(sys.argv[2], dpi=100)
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
