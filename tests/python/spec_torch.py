"""SPEC §2 written directly in torch, independent of flashmoe's C++ reference: the oracle the
Python tests compare the extension with. Gradients come from torch.autograd over this code, so
they check SPEC §3 without restating it. Run it in fp64."""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_ACTIVATIONS = {
    "relu": F.relu,
    "gelu": F.gelu,  # erf form
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
    "silu": F.silu,
    "identity": lambda z: z,
}
_GATED = {"swiglu": F.silu, "geglu": F.gelu}


@dataclass
class SpecOutput:
    out: torch.Tensor
    aux: torch.Tensor
    z: torch.Tensor
    topk_idx: torch.Tensor  # int64 [S, k]
    kept: torch.Tensor      # bool [S, k]
    weights: torch.Tensor   # [S, k]
    routed: torch.Tensor    # int64 [E]
    accepted: torch.Tensor  # int64 [E]


def top_k_lower_index_first(p, k):
    """The k largest entries per row in descending order; ties go to the lower index (a stable
    descending sort keeps equal values in index order)."""
    return torch.sort(p, dim=-1, descending=True, stable=True).indices[:, :k]


def capacity(tokens, k, experts, capacity_factor, drop_tokens):
    if tokens == 0:
        return 0
    if not drop_tokens:
        return tokens
    return min(max(math.ceil(capacity_factor * tokens * k / experts), 1), tokens)


def keep_by_token_order(topk_idx, experts, cap):
    """Slot (t, j) is kept when fewer than `cap` earlier tokens chose the same expert."""
    S, k = topk_idx.shape
    kept = torch.zeros(S, k, dtype=torch.bool)
    taken = [0] * experts
    for t in range(S):
        for j in range(k):
            e = int(topk_idx[t, j])
            kept[t, j] = taken[e] < cap
            taken[e] += 1
    return kept


def expert_ffn(x, w1, b1, w2, b2, activation):
    z = x @ w1.T + (b1 if b1 is not None else 0)
    if activation in _GATED:
        g, u = z.chunk(2, dim=-1)
        h = _GATED[activation](g) * u
    else:
        h = _ACTIVATIONS[activation](z)
    return h @ w2.T + (b2 if b2 is not None else 0)


def spec_moe(x, wg, w1, b1, w2, b2, *, top_k, activation="gelu", capacity_factor=1.25,
             drop_tokens=True, normalize_weights=True, routing=None):
    """routing: None to decide it here, or (topk_idx, kept) to replay another's (SPEC §4)."""
    S, E = x.shape[0], wg.shape[0]
    logits = x @ wg.T
    p = torch.softmax(logits, dim=-1)
    lse = torch.logsumexp(logits, dim=-1)
    if routing is None:
        topk_idx = top_k_lower_index_first(p.detach(), top_k)
        cap = capacity(S, top_k, E, capacity_factor, drop_tokens)
        kept = keep_by_token_order(topk_idx, E, cap)
    else:
        topk_idx, kept = routing[0].long(), routing[1].bool()
    chosen = p.gather(1, topk_idx)
    weights = chosen / chosen.sum(-1, keepdim=True) if normalize_weights else chosen
    out = torch.zeros_like(x)
    for e in range(E):
        tokens, slots = torch.nonzero((topk_idx == e) & kept, as_tuple=True)
        if tokens.numel() == 0:
            continue
        y = expert_ffn(x[tokens], w1[e], None if b1 is None else b1[e], w2[e],
                       None if b2 is None else b2[e], activation)
        out = out.index_add(0, tokens, weights[tokens, slots].unsqueeze(1) * y)
    routed = torch.bincount(topk_idx.flatten(), minlength=E)
    accepted = torch.bincount(topk_idx[kept], minlength=E)
    f = routed.to(x.dtype) / (S * top_k)
    aux = E * (f * p.mean(0)).sum()
    z = (lse ** 2).mean()
    return SpecOutput(out, aux, z, topk_idx, kept, weights, routed, accepted)
