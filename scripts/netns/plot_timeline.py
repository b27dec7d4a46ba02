#!/usr/bin/env python3
"""plot_timeline.py TRACE PNG [--pass forward|backward|all]: the tasks of one pass on every rank.

TRACE is the --trace path given to `flashmoe run` under MPI (each rank wrote TRACE.rank<r>;
scripts/netns/trace.sh makes them over shaped links), or an in-process run's one trace file. Draws one row per rank and participant,
one box per task, coloured by task kind, on one time axis: the ranks' traces are aligned by their
origins on the steady clock ("origin_steady_ns", which processes on one machine share; a trace
without it starts at its own first task, and the title says so). The gaps on a row are the time
that participant waited — for rows from peers, or for work. Needs matplotlib (Debian's
python3-matplotlib, installed by scripts/setup.sh).
"""
import argparse
import json
import pathlib
import re
import sys

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI machines
import matplotlib.pyplot as plt  # noqa: E402

# One colour per task kind, in the program's order (runtime/task.hpp), from matplotlib's tab20.
KINDS = ["gate", "route", "dispatch", "expert_up", "expert_down", "combine", "gate_gradient",
         "announce_gradients", "expert_grad_hidden", "expert_grad_input", "weight_grad_down",
         "weight_grad_up", "gate_weight_grad", "input_grad"]
COLOURS = {kind: plt.get_cmap("tab20")(i) for i, kind in enumerate(KINDS)}


def load(trace):
    """[(rank, events, origin_ns or None)] for every TRACE.rank<r> file, by rank; TRACE itself
    (an in-process run's one file, every rank in it) when there are none."""
    ranks = []
    for path in pathlib.Path(trace).parent.glob(pathlib.Path(trace).name + ".rank*"):
        match = re.fullmatch(r".*\.rank(\d+)", path.name)
        if not match:
            continue
        data = json.loads(path.read_text())
        ranks.append((int(match[1]), data["traceEvents"], data.get("origin_steady_ns")))
    if not ranks and pathlib.Path(trace).is_file():
        data = json.loads(pathlib.Path(trace).read_text())
        ranks.append((0, data["traceEvents"], data.get("origin_steady_ns")))
    return sorted(ranks, key=lambda r: r[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace")
    parser.add_argument("png")
    parser.add_argument("--pass", dest="pass_name", default="all",
                        choices=["forward", "backward", "all"])
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    ranks = load(args.trace)
    if not ranks:
        sys.exit(f"plot_timeline.py: no {args.trace}.rank<r> files")
    aligned = all(origin is not None for _, _, origin in ranks)
    base = min(origin for _, _, origin in ranks) if aligned else 0

    rows, labels, kinds = [], [], set()
    for rank, events, origin in ranks:
        shift_ms = (origin - base) * 1e-6 if aligned else 0.0
        chosen = [e for e in events if args.pass_name == "all" or e["cat"] == args.pass_name]
        # pid is the event's rank (an in-process trace holds every rank), tid its participant.
        for pid, tid in sorted({(e["pid"], e["tid"]) for e in chosen}):
            boxes = [(shift_ms + e["ts"] * 1e-3, e["dur"] * 1e-3, e["name"])
                     for e in chosen if e["pid"] == pid and e["tid"] == tid]
            rows.append(boxes)
            labels.append(f"rank {pid} · participant {tid}")
            kinds.update(name for _, _, name in boxes)
    start = min(b[0] for boxes in rows for b in boxes)

    figure, axis = plt.subplots(figsize=(13, max(3.0, 0.5 * len(rows) + 1.5)))
    for y, boxes in enumerate(rows):
        for kind in {name for _, _, name in boxes}:
            spans = [(b[0] - start, b[1]) for b in boxes if b[2] == kind]
            axis.broken_barh(spans, (y - 0.4, 0.8), color=COLOURS.get(kind, "#999999"))
    axis.set_yticks(range(len(rows)))
    axis.set_yticklabels(labels)
    axis.invert_yaxis()
    axis.set_xlabel("ms" + ("" if aligned else " (each rank from its own first task)"))
    order = [k for k in KINDS if k in kinds] + sorted(kinds - set(KINDS))
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLOURS.get(k, "#999999")) for k in order]
    axis.legend(handles, order, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    axis.set_title(args.title or f"{args.trace}: {args.pass_name} tasks per rank and participant")
    axis.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.png, dpi=100)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
