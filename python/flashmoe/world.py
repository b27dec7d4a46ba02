"""Where this process sits among the expert-parallel ranks.

Only a single rank exists today (W = 1): the MPI transport that lets ranks of different
processes exchange tokens is a later issue. The layer already takes an optional communicator
so that multi-rank code will not change shape when it arrives; any group of more than one
rank is refused by the extension with NotImplementedError.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class World:
    size: int = 1
    rank: int = 0


def resolve_world(group=None):
    """World of `group`: None is this process alone; a torch.distributed process group gives
    its size and this process's rank in it."""
    if group is None:
        return World()
    if isinstance(group, World):
        return group
    import torch.distributed as dist

    return World(size=dist.get_world_size(group), rank=dist.get_rank(group))
