"""Where this process sits among the expert-parallel ranks.

group=None: this process alone (W = 1), also when it was started by mpirun — every process
then runs its own independent layer. group="mpi": this process is one rank of the MPI job
(W = MPI_COMM_WORLD's size, rank = its rank); the layer exchanges tokens with the other
processes over flashmoe's MPI transport. MPI is initialised with MPI_THREAD_MULTIPLE on first
use unless someone (e.g. `from mpi4py import MPI`, which asks for THREAD_MULTIPLE by default)
did already; mpi4py imported afterwards adopts it. When flashmoe initialised MPI it also
finalises it at interpreter exit.

Over MPI every call is collective: all ranks build the layer, call forward and backward
together and in the same order (see docs/python.md).
"""
import atexit
from dataclasses import dataclass

from . import _C


@dataclass(frozen=True)
class World:
    size: int = 1
    rank: int = 0


_mpi_world = None


def mpi_world():
    """World of MPI_COMM_WORLD (initialises MPI on first call)."""
    global _mpi_world
    if _mpi_world is None:
        size, rank = _C.mpi_world()
        atexit.register(_C.mpi_finalize)
        _mpi_world = World(size=size, rank=rank)
    return _mpi_world


def resolve_world(group=None):
    """World of `group`: None is this process alone; "mpi" is this process's rank of the MPI
    job; a World is taken as given (over MPI it must be MPI_COMM_WORLD's); a torch.distributed
    process group gives its size and this process's rank in it (only size 1 runs)."""
    if group is None:
        return World()
    if isinstance(group, str):
        if group == "mpi":
            return mpi_world()
        raise ValueError(f"group {group!r}: expected None, 'mpi', a World or a process group")
    if isinstance(group, World):
        return group
    import torch.distributed as dist

    if not (dist.is_available() and isinstance(group, dist.ProcessGroup)):
        # Anything else would reach torch.distributed and fail there with an unrelated message.
        raise TypeError(f"group must be None, 'mpi', a flashmoe.World or a torch.distributed "
                        f"process group, got {type(group).__name__}")
    return World(size=dist.get_world_size(group), rank=dist.get_rank(group))


def all_reduce_(tensor):
    """Sums `tensor` in place over the ranks of the MPI job (needs mpi4py), in fp64, and returns
    it: for the gate's gradient wg.grad, which each rank holds only its own tokens' part of
    (wg is replicated, like a data-parallel parameter). Collective."""
    from mpi4py import MPI

    import torch

    buffer = tensor.detach().to(torch.float64).contiguous().numpy()
    MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, buffer)
    tensor.detach().copy_(torch.from_numpy(buffer))
    return tensor
