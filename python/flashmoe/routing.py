"""The routing record of one layer call (SPEC §2.9)."""
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RoutingRecord:
    """How the tokens of the last call were routed, on this rank.

    topk_idx: int32 [S, k], the chosen experts of each token, in descending probability.
    topk_weight: [S, k], their combine weights (fp64 for fp64 layers, fp32 otherwise).
    kept: bool [S, k], False where capacity dropped the slot.
    tokens_per_expert: int64 [E], slots routed to each expert before capacity.
    tokens_per_expert_kept: int64 [E], slots each expert accepted after capacity.
    """

    topk_idx: torch.Tensor
    topk_weight: torch.Tensor
    kept: torch.Tensor
    tokens_per_expert: torch.Tensor
    tokens_per_expert_kept: torch.Tensor

    @property
    def dropped(self):
        """Number of (token, slot) pairs dropped by capacity."""
        return int((~self.kept).sum())
