"""flashmoe.moe over MPI (group="mpi"), run by CTest as
`mpirun -np 2 python3 tests/python/mpi_job.py` (python/CMakeLists.txt, test python_mpi).

Every process builds the same full problem from a seed (E experts, W ranks' tokens), runs the
layer on its own tokens and its own experts [rank·E/W, (rank+1)·E/W), and checks forward
outputs, losses, routing and every gradient against the pure-torch SPEC oracle (spec_torch.py)
in fp64 on the full problem: routing and capacity are per source rank, so rank q's output is
spec_moe on rank q's tokens with all E experts, and the weights' gradients are sums over the
ranks' tokens. The oracle replays flashmoe's routing (gathered with mpi4py). Then an error case:
a configuration that differs across ranks must raise on every rank, naming the field, without a
hang. Any failure aborts the whole job (non-zero exit)."""
import os
import sys
import traceback

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flashmoe  # noqa: E402
from flashmoe.world import all_reduce_, mpi_world  # noqa: E402
from spec_torch import spec_moe  # noqa: E402

TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 2e-2}
NAMES = ("x", "wg", "w1", "b1", "w2", "b2")
CASES = [
    # activation, bias, capacity_factor, top_k, dtype
    ("gelu", False, 1.25, 2, torch.float32),
    ("swiglu", True, 0.75, 2, torch.float32),
    ("relu", True, 1.0, 3, torch.bfloat16),
]


def rel_l2(actual, expected):
    actual, expected = actual.double(), expected.double()
    return float((actual - expected).norm() / expected.norm().clamp_min(1e-300))


def close(name, actual, expected, tolerance, rank):
    error = rel_l2(actual, expected)
    assert error <= tolerance, f"rank {rank}: {name}: relative L2 error {error:.3g} > {tolerance}"


def full_problem(world, activation, bias, dtype, seed, hidden=24, ffn=20, experts_per_rank=2):
    """Every rank's tokens (a different count per rank) and all experts, fp64 rounded to dtype."""
    generator = torch.Generator().manual_seed(seed)
    E = experts_per_rank * world.size
    rows = 2 * ffn if activation in ("swiglu", "geglu") else ffn

    def uniform(*shape, fan_in):
        bound = fan_in ** -0.5
        return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

    xs = [torch.randn(29 + 6 * q, hidden, generator=generator, dtype=torch.float64)
          for q in range(world.size)]
    weights = {
        "wg": uniform(E, hidden, fan_in=hidden),
        "w1": uniform(E, rows, hidden, fan_in=hidden),
        "b1": uniform(E, rows, fan_in=hidden) if bias else None,
        "w2": uniform(E, hidden, ffn, fan_in=ffn),
        "b2": uniform(E, hidden, fan_in=ffn) if bias else None,
    }
    douts = [torch.randn(x.shape, generator=generator, dtype=torch.float64) for x in xs]
    rounded = lambda t: None if t is None else t.to(dtype)  # noqa: E731
    return ([rounded(x) for x in xs], {k: rounded(v) for k, v in weights.items()},
            [rounded(d) for d in douts])


def check_case(world, comm, activation, bias, factor, top_k, dtype, seed):
    rank = world.rank
    xs, weights, douts = full_problem(world, activation, bias, dtype, seed)
    E = weights["wg"].shape[0]
    L = E // world.size
    own = slice(rank * L, (rank + 1) * L)
    mine = {"x": xs[rank].clone(), "wg": weights["wg"].clone()}
    for name in ("w1", "b1", "w2", "b2"):
        mine[name] = None if weights[name] is None else weights[name][own].clone()
    args = [None if mine[n] is None else mine[n].requires_grad_(True) for n in NAMES]
    options = dict(top_k=top_k, activation=activation, capacity_factor=factor)
    out, aux, z, routing = flashmoe.moe(*args, **options, return_losses=True,
                                        return_routing=True, group="mpi")
    d_aux, d_z = 0.3, 0.7
    (out.double() * douts[rank].double()).sum().add(d_aux * aux + d_z * z).backward()
    grads = {n: None if a is None else a.grad for n, a in zip(NAMES, args)}
    all_reduce_(grads["wg"])  # wg is replicated: its gradient is the sum over the ranks

    # The oracle in fp64 on the full problem, each rank's tokens with its own routing.
    routings = comm.allgather((routing.topk_idx.numpy(), routing.kept.numpy()))
    exact = {k: None if v is None else v.double().requires_grad_(True) for k, v in weights.items()}
    exact_x = [x.double().requires_grad_(True) for x in xs]
    loss = 0
    for q in range(world.size):
        topk, kept = routings[q]
        spec = spec_moe(exact_x[q], exact["wg"], exact["w1"], exact["b1"], exact["w2"],
                        exact["b2"], **options,
                        routing=(torch.from_numpy(topk), torch.from_numpy(kept)))
        loss = loss + (spec.out * douts[q].double()).sum() + d_aux * spec.aux + d_z * spec.z
        if q == rank:
            own_spec = spec
    loss.backward()

    tolerance = TOLERANCE[dtype]
    assert out.dtype == dtype and out.shape == xs[rank].shape
    assert torch.equal(routing.tokens_per_expert, own_spec.routed), f"rank {rank}: routed"
    assert torch.equal(routing.tokens_per_expert_kept, own_spec.accepted), f"rank {rank}: kept"
    close("out", out, own_spec.out, tolerance, rank)
    close("aux", aux.reshape(1), own_spec.aux.reshape(1), tolerance, rank)
    close("z", z.reshape(1), own_spec.z.reshape(1), tolerance, rank)
    close("dx", grads["x"], exact_x[rank].grad, tolerance, rank)
    close("dwg", grads["wg"], exact["wg"].grad, tolerance, rank)
    for name in ("w1", "b1", "w2", "b2"):
        if grads[name] is not None:
            assert grads[name].shape == mine[name].shape
            close("d" + name, grads[name], exact[name].grad[own], tolerance, rank)
    if dtype == torch.float32:  # the oracle's own routing decisions agree too
        decided = spec_moe(xs[rank].double(), *[None if exact[n] is None else exact[n].detach()
                                                for n in NAMES[1:]], **options)
        assert torch.equal(routing.topk_idx.long(), decided.topk_idx), f"rank {rank}: top-k"
        assert torch.equal(routing.kept, decided.kept), f"rank {rank}: kept"


def check_mismatch(world):
    """Rank 1 asks for top_k = 1, the others for 2: every rank raises, naming top_k."""
    xs, weights, _ = full_problem(world, "gelu", False, torch.float32, seed=11)
    L = weights["wg"].shape[0] // world.size
    own = slice(world.rank * L, (world.rank + 1) * L)
    top_k = 1 if world.rank == 1 else 2
    try:
        flashmoe.moe(xs[world.rank], weights["wg"], weights["w1"][own], None,
                     weights["w2"][own], None, top_k=top_k, group="mpi")
    except RuntimeError as error:
        assert "top_k" in str(error), f"rank {world.rank}: the error does not name top_k: {error}"
    else:
        raise AssertionError(f"rank {world.rank}: a top_k that differs across ranks was accepted")


def check_one_rank_refuses(world):
    """An argument error on rank 1 only — found in Python (x not 2-D) or in the extension (w1
    holding every expert instead of rank 1's) — raises on every rank: rank 1 its own error, the
    others one naming rank 1; nobody waits forever."""
    xs, weights, _ = full_problem(world, "gelu", False, torch.float32, seed=12)
    L = weights["wg"].shape[0] // world.size
    own = slice(world.rank * L, (world.rank + 1) * L)
    bad = world.rank == 1
    for where in ("python", "extension"):
        x = xs[world.rank]
        w1 = weights["w1"][own]
        if bad and where == "python":
            x = x.unsqueeze(0)
        if bad and where == "extension":
            w1 = weights["w1"]
        try:
            flashmoe.moe(x, weights["wg"], w1, None, weights["w2"][own], None, top_k=2,
                         group="mpi")
        except ValueError as error:
            expected = ("x" if where == "python" else "w1") if bad else "rank 1 "
            assert expected in str(error), f"rank {world.rank} ({where}): {error}"
        else:
            raise AssertionError(f"rank {world.rank}: rank 1's bad {where} argument passed")


def check_module(world):
    layer = flashmoe.MoE(hidden=16, ffn=8, experts=2 * world.size, top_k=2, group="mpi")
    assert layer.w1.shape[0] == 2
    x = torch.randn(10 + world.rank, 16, requires_grad=True)
    out, aux, z = layer(x, return_losses=True)
    (out.sum() + aux + z).backward()
    assert x.grad.shape == x.shape and layer.w1.grad.shape == layer.w1.shape


def main():
    # flashmoe initialises MPI first (THREAD_MULTIPLE); mpi4py, imported afterwards, adopts it.
    world = mpi_world()
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    assert world.size == comm.Get_size() > 1 and world.rank == comm.Get_rank()
    try:
        for i, case in enumerate(CASES):
            check_case(world, comm, *case, seed=20 + i)
        check_mismatch(world)
        check_one_rank_refuses(world)
        check_case(world, comm, *CASES[0], seed=30)  # the job works on after a failed call
        check_module(world)
    except BaseException:  # one rank's failure must end the job, not leave the others waiting
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        comm.Abort(1)
    comm.Barrier()
    if world.rank == 0:
        print(f"flashmoe over MPI: {world.size} ranks agree with the SPEC oracle "
              f"({len(CASES)} cases, gradients included); a mismatched config and one rank's "
              "bad arguments raised on every rank")


if __name__ == "__main__":
    main()
