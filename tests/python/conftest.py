"""Shared fixtures of the Python tests: small random layers in SPEC's layouts."""
import pytest
import torch

import flashmoe


def make_inputs(tokens=37, hidden=24, ffn=20, experts=6, activation="gelu", bias=False,
                dtype=torch.float64, seed=0):
    """x ~ N(0, 1) and nn.Linear-like weights U(±1/√fan_in), drawn in fp64 then rounded to dtype
    (so every dtype sees the rounded values of the same fp64 problem)."""
    generator = torch.Generator().manual_seed(seed)
    rows = 2 * ffn if activation in ("swiglu", "geglu") else ffn

    def uniform(*shape, fan_in):
        bound = fan_in ** -0.5
        return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

    tensors = {
        "x": torch.randn(tokens, hidden, generator=generator, dtype=torch.float64),
        "wg": uniform(experts, hidden, fan_in=hidden),
        "w1": uniform(experts, rows, hidden, fan_in=hidden),
        "b1": uniform(experts, rows, fan_in=hidden) if bias else None,
        "w2": uniform(experts, hidden, ffn, fan_in=ffn),
        "b2": uniform(experts, hidden, fan_in=ffn) if bias else None,
    }
    return {k: None if v is None else v.to(dtype) for k, v in tensors.items()}


ORDER = ("x", "wg", "w1", "b1", "w2", "b2")


def as_args(inputs, requires_grad=False):
    return [None if inputs[name] is None else inputs[name].clone().requires_grad_(requires_grad)
            for name in ORDER]


@pytest.fixture(params=flashmoe.backends())
def backend(request):
    """Every backend built in; one that cannot run on this machine (cuda without a GPU) skips,
    saying why."""
    reason = flashmoe.backend_unavailable(request.param)
    if reason:
        pytest.skip(f"backend {request.param} cannot run here: {reason}")
    return request.param
