"""A run saved by `flashmoe run --save DIR` (docs/file_layout.md), read into torch tensors."""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy
import torch

from .routing import RoutingRecord

_INPUTS = ("x", "w1", "b1", "w2", "b2", "dout")
_GRADIENTS = ("dx", "dwg", "dw1", "db1", "dw2", "db2")


@dataclass
class RunResult:
    """What one `flashmoe run` consumed and produced, rank by rank (lists indexed by rank).

    out[r]: rank r's output [S_r, H]. routing[r]: its RoutingRecord. losses[r]: (l_aux, l_z).
    inputs: {"wg": [E, H]} and, per rank, inputs["ranks"][r] = {"x", "w1", "w2", ["b1", "b2"],
    ["dout"]}. grads[r]: {"dx", "dwg", "dw1", "dw2", ["db1", "db2"]} when the backward ran,
    else None (dwg is rank r's part: sum it over the ranks). meta: DIR/meta.json (the
    configuration, tokens, backend). summary: what the command printed. check_passed: the
    --check verdict, None without check.
    """

    out: list
    routing: list
    losses: list
    inputs: dict
    grads: Optional[list]
    meta: dict
    summary: str = ""
    check_passed: Optional[bool] = None
    notes: str = field(default="", repr=False)


def _load(path):
    return torch.from_numpy(numpy.load(path))


def _routing(rank_dir, experts):
    topk_idx = _load(rank_dir / "topk_idx.npy")
    kept = _load(rank_dir / "kept.npy").bool()
    # Not stored (docs/file_layout.md): each expert's slots, all of them or the kept ones.
    flat = topk_idx.reshape(-1).long()
    return RoutingRecord(
        topk_idx=topk_idx,
        topk_weight=_load(rank_dir / "topk_weight.npy"),
        kept=kept,
        tokens_per_expert=torch.bincount(flat, minlength=experts),
        tokens_per_expert_kept=torch.bincount(flat[kept.reshape(-1)], minlength=experts),
    )


def load_saved_run(directory):
    """RunResult of the run saved in `directory` (summary and check_passed left empty)."""
    directory = Path(directory)
    meta = json.loads((directory / "meta.json").read_text())
    ranks = [directory / f"rank{r}" for r in range(meta["world_size"])]
    inputs = {"wg": _load(directory / "wg.npy"),
              "ranks": [{name: _load(d / f"{name}.npy") for name in _INPUTS
                         if (d / f"{name}.npy").is_file()} for d in ranks]}
    grads = None
    if meta["backward"]:
        grads = [{name: _load(d / f"{name}.npy") for name in _GRADIENTS
                  if (d / f"{name}.npy").is_file()} for d in ranks]
    losses = [tuple(float(v) for v in numpy.load(d / "losses.npy")) for d in ranks]
    return RunResult(out=[_load(d / "out.npy") for d in ranks],
                     routing=[_routing(d, meta["experts"]) for d in ranks],
                     losses=losses, inputs=inputs, grads=grads, meta=meta)
