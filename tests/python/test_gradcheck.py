"""torch.autograd.gradcheck of flashmoe.moe in fp64: analytical gradients (the C++ backward)
against central differences of the forward, for every input and both losses."""
import pytest
import torch

import flashmoe
from conftest import as_args, make_inputs

CASES = [
    # activation, bias, normalize_weights, drop_tokens, capacity_factor, top_k
    ("gelu", False, True, True, 1.25, 2),
    ("swiglu", True, True, True, 0.5, 2),     # gated, biases, capacity drops tokens
    ("silu", True, False, False, 1.0, 3),     # unnormalised weights, dropless
    ("gelu_tanh", False, True, True, 2.0, 1),  # k = 1: w ≡ 1, gate learns from the losses only
]


@pytest.mark.parametrize("activation,bias,normalize,drop,factor,top_k", CASES)
def test_gradcheck_fp64(backend, activation, bias, normalize, drop, factor, top_k):
    inputs = make_inputs(tokens=6, hidden=4, ffn=3, experts=4, activation=activation, bias=bias,
                         seed=1)
    args = as_args(inputs, requires_grad=True)

    def layer(*tensors):
        return flashmoe.moe(*tensors, top_k=top_k, activation=activation,
                            capacity_factor=factor, drop_tokens=drop,
                            normalize_weights=normalize, return_losses=True, backend=backend)

    # The routing must not change under the finite-difference steps (no near-ties here).
    assert torch.autograd.gradcheck(layer, args, eps=1e-6, atol=1e-7, rtol=1e-6)
