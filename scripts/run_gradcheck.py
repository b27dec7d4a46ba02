#!/usr/bin/env python3
"""Distributed gradient check of flashmoe's engine, run as FlashDMoE's README runs its own:

    mpirun -np 2 python3 -u scripts/run_gradcheck.py     # 2 ranks over the MPI transport
    python3 scripts/run_gradcheck.py                     # 1 rank, this process

The fp64 `cpu` engine (over flashmoe's MPI transport when started by an MPI launcher) computes
every gradient — x, wg, w1, b1, w2, b2 — of L = Σ_r ⟨dout_r, out_r⟩ + d_aux·Σ_r l_aux_r +
d_z·Σ_r l_z_r with d_aux and d_z non-zero, on a tiny layer with biases and capacity drops.
Every element of every tensor is then perturbed by ±eps and the central difference of L is
taken (each L a collective forward of all ranks). A tensor fails when ‖analytic − numeric‖ /
max(‖numeric‖, 1) exceeds the tolerance (1e-6: fp64 central differences resolve ~1e-9 here).
Each rank reports its own tokens' and experts' tensors with their worst entries; the
replicated gate's gradient is the sum over ranks. Exit status 0 when every tensor passes, 1
when one fails, 2 when a perturbation changed the routing (the check would be meaningless).

Unlike FlashDMoE's script (5 sampled entries in fp32, steps too small to resolve), this one
can fail: FLASHMOE_TEST_FAULT=engine_wrong_gradient makes the engine's dw2 on the last rank
wrong by 1e-5 relative, and the check must say so (tests/python/test_run_gradcheck.py).
"""
import argparse
import os
import sys
from pathlib import Path

# The ranks' sizes: 2 experts per rank (at least 4), 5 and 3 tokens on alternate ranks, capacity
# factor 1 so that some slots are dropped, biases so that db1 and db2 are checked.
HIDDEN, FFN, TOP_K = 4, 3, 2
LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def import_flashmoe():
    """flashmoe as installed (pip), else from this checkout's CMake build tree."""
    try:
        import torch  # noqa: F401  (flashmoe needs it; say so before anything else fails)
    except ImportError:
        sys.exit(f"run_gradcheck: {sys.executable} has no torch; run it with an interpreter "
                 "that has torch (on Debian: /usr/bin/python3, or a venv made with "
                 "--system-site-packages)")
    try:
        import flashmoe
        return flashmoe
    except ImportError:
        pass
    for build in sorted((Path(__file__).resolve().parent.parent / "build").glob("*/python")):
        if (build / "flashmoe").is_dir():
            sys.path.insert(0, str(build))
            import flashmoe
            return flashmoe
    sys.exit("run_gradcheck: flashmoe is not importable: `pip install .` it, or build it "
             "(scripts/build.sh release) and set PYTHONPATH=build/release/python")


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activation", default="gelu",
                        help="expert activation (gelu, relu, silu, swiglu, ...; default gelu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the problem (default 0)")
    parser.add_argument("--eps", type=float, default=1e-6, help="finite-difference step")
    parser.add_argument("--tolerance", type=float, default=1e-6,
                        help="largest ‖analytic − numeric‖ / max(‖numeric‖, 1) that passes")
    parser.add_argument("--worst", type=int, default=3, help="worst entries listed per tensor")
    return parser.parse_args()


class Job:
    """This process's place in the check: W ranks over MPI under a launcher, else one rank."""

    def __init__(self, flashmoe):
        if any(v in os.environ for v in LAUNCHER_VARIABLES):
            world = flashmoe.world.mpi_world()
            try:
                from mpi4py import MPI  # the check's own sums and gathers across the ranks
            except ImportError:
                sys.exit("run_gradcheck: under mpirun the check needs mpi4py "
                         "(Debian: apt install python3-mpi4py)")
            self.comm = MPI.COMM_WORLD
            self.size, self.rank, self.group = world.size, world.rank, "mpi"
        else:
            self.comm, self.size, self.rank, self.group = None, 1, 0, None

    def sum(self, value):
        return value if self.comm is None else self.comm.allreduce(value)

    def gather(self, value):
        return [value] if self.comm is None else self.comm.gather(value, root=0)


def make_problem(torch, job, activation, seed):
    """The full problem, drawn identically on every rank; each rank keeps its own parts."""
    experts = max(4, 2 * job.size)
    local = experts // job.size
    gated = activation in ("swiglu", "geglu")
    rows = 2 * FFN if gated else FFN
    g = torch.Generator().manual_seed(seed)

    def uniform(shape, fan_in):
        return (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) / fan_in**0.5

    tokens = [5 - 2 * (r % 2) for r in range(job.size)]
    xs = [torch.randn(s, HIDDEN, generator=g, dtype=torch.float64) for s in tokens]
    douts = [torch.randn(s, HIDDEN, generator=g, dtype=torch.float64) for s in tokens]
    wg = uniform((experts, HIDDEN), HIDDEN)
    w1 = uniform((experts, rows, HIDDEN), HIDDEN)
    b1 = uniform((experts, rows), HIDDEN)
    w2 = uniform((experts, HIDDEN, FFN), FFN)
    b2 = uniform((experts, HIDDEN), FFN)
    mine = slice(job.rank * local, (job.rank + 1) * local)
    tensors = {"x": xs[job.rank], "wg": wg, "w1": w1[mine].contiguous(),
               "b1": b1[mine].contiguous(), "w2": w2[mine].contiguous(),
               "b2": b2[mine].contiguous()}
    return tensors, douts[job.rank], tokens


class Layer:
    """The engine's layer call and L on this rank's part; every call is collective."""

    D_AUX, D_Z = 0.3, 0.2

    def __init__(self, flashmoe, torch, job, tensors, dout, activation):
        self.flashmoe, self.torch, self.job = flashmoe, torch, job
        self.tensors, self.dout, self.activation = tensors, dout, activation

    def _call(self, tensors):
        t = tensors
        return self.flashmoe.moe(
            t["x"], t["wg"], t["w1"], t["b1"], t["w2"], t["b2"], top_k=TOP_K,
            activation=self.activation, capacity_factor=1.0, drop_tokens=True,
            return_losses=True, return_routing=True, backend="cpu", group=self.job.group)

    def _local_loss(self, out, aux, z):
        return (self.dout * out).sum() + self.D_AUX * aux + self.D_Z * z

    def analytic(self):
        """Every gradient from the engine's backward; wg's summed over the ranks."""
        leaves = {k: v.clone().requires_grad_(True) for k, v in self.tensors.items()}
        out, aux, z, routing = self._call(leaves)
        self._local_loss(out, aux, z).backward()
        grads = {k: v.grad.detach().clone() for k, v in leaves.items()}
        if self.job.comm is not None:
            self.flashmoe.world.all_reduce_(grads["wg"])
        return grads, routing

    def loss(self, tensors):
        """Global L (summed over the ranks) and this rank's routing."""
        with self.torch.no_grad():
            out, aux, z, routing = self._call(tensors)
            return self.job.sum(float(self._local_loss(out, aux, z))), routing


def same_routing(a, b):
    return bool((a.topk_idx == b.topk_idx).all() and (a.kept == b.kept).all())


def numeric_gradients(torch, job, layer, tokens, base_routing, eps):
    """Central differences of L over every element; every rank walks the same loop (each L is
    collective) and only the owner of an element perturbs it — all ranks for the replicated wg.
    Returns this rank's numeric gradients and the elements whose perturbation moved a route."""
    numeric = {k: torch.zeros_like(v) for k, v in layer.tensors.items()}
    flipped = []
    owned = [("wg", None)] + [(name, q) for q in range(job.size)
                              for name in ("x", "w1", "b1", "w2", "b2")]
    for name, owner in owned:
        mine = owner is None or owner == job.rank
        # x's size differs per rank, and every rank walks every rank's elements.
        count = tokens[owner] * HIDDEN if name == "x" else layer.tensors[name].numel()
        for i in range(count):
            values = []
            for step in (eps, -eps):
                tensors = dict(layer.tensors)
                if mine:
                    tensors[name] = layer.tensors[name].clone()
                    tensors[name].view(-1)[i] += step
                value, routing = layer.loss(tensors)
                if not same_routing(routing, base_routing):
                    flipped.append(f"{name}[{i}] of rank {owner if owner is not None else 'all'}")
                values.append(value)
            if mine:
                numeric[name].view(-1)[i] = (values[0] - values[1]) / (2 * eps)
    return numeric, flipped


def report(torch, name, analytic, numeric, tolerance, worst):
    """(passed, lines) for one tensor: its error and its worst entries."""
    difference = (analytic - numeric).abs().view(-1)
    error = float(difference.norm()) / max(float(numeric.norm()), 1.0)
    passed = error <= tolerance
    lines = [f"  {name:4s} {analytic.numel():3d} entries  error {error:.2e}  "
             f"{'PASS' if passed else 'FAIL'}"]
    for i in torch.argsort(difference, descending=True)[:worst].tolist():
        lines.append(f"       {name}{list(_unravel(i, analytic.shape))}: engine {analytic.view(-1)[i].item():+.10e}  "
                     f"finite difference {numeric.view(-1)[i].item():+.10e}  "
                     f"|diff| {difference[i].item():.1e}")
    return passed, lines


def _unravel(flat, shape):
    index = []
    for extent in reversed(shape):
        index.append(flat % extent)
        flat //= extent
    return tuple(reversed(index))


def main():
    args = parse_arguments()
    flashmoe = import_flashmoe()
    import torch

    job = Job(flashmoe)
    tensors, dout, tokens = make_problem(torch, job, args.activation, args.seed)
    layer = Layer(flashmoe, torch, job, tensors, dout, args.activation)
    analytic, base_routing = layer.analytic()
    numeric, flipped = numeric_gradients(torch, job, layer, tokens, base_routing, args.eps)
    flips = job.sum(len(flipped))
    gathered = job.gather(flipped)  # collective: every rank calls it
    flipped = sum(gathered, []) if job.rank == 0 else []

    local = tensors["w1"].shape[0]
    passed, lines = True, [f"rank {job.rank}: {tensors['x'].shape[0]} tokens, experts "
                           f"{job.rank * local}..{(job.rank + 1) * local - 1}"]
    # The replicated gate's gradient is the same on every rank once summed: rank 0 reports it.
    for name in ("x", "w1", "b1", "w2", "b2") + (("wg",) if job.rank == 0 else ()):
        ok, tensor_lines = report(torch, name, analytic[name], numeric[name], args.tolerance,
                                  args.worst)
        if name == "wg":
            tensor_lines[0] += "  (gate, summed over all ranks)"
        passed &= ok
        lines += tensor_lines
    reports = job.gather("\n".join(lines))
    failures = job.sum(0 if passed else 1)
    if job.rank == 0:
        print(f"run_gradcheck: fp64 cpu engine, {job.size} rank(s)"
              f"{' over the MPI transport' if job.group else ' in this process'}; "
              f"H {HIDDEN}, P {FFN}, E {max(4, 2 * job.size)}, k {TOP_K}, {args.activation}, "
              f"bias, capacity factor 1; d_aux {Layer.D_AUX}, d_z {Layer.D_Z}; "
              f"eps {args.eps:g}, tolerance {args.tolerance:g}")
        print("\n".join(reports))
        if flips:
            print(f"run_gradcheck: perturbations changed the routing at {', '.join(flipped[:5])}: "
                  "choose another --seed or a smaller --eps")
        elif failures:
            print(f"run_gradcheck: FAIL ({failures} rank(s) with a gradient beyond tolerance)")
        else:
            print("run_gradcheck: PASS")
        sys.stdout.flush()
    return 2 if flips else (1 if failures else 0)


if __name__ == "__main__":
    sys.exit(main())
