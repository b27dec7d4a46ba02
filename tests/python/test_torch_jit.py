"""torch.jit cannot capture the layer and says so (issue 10, row 18): tracing and scripting
raise RuntimeError naming the cause (data-dependent routing, an extension that is no
TorchScript operator) and what to do instead, where tracing used to fail with "invalid value
'tensor(4)' for key 'experts'"."""
import pytest
import torch

import flashmoe
from conftest import as_args, make_inputs

CAUSE = r".*data-dependent.*not a TorchScript operator.*Call the layer eagerly"


def test_tracing_the_module_is_refused():
    layer = flashmoe.MoE(16, 24, experts=4, top_k=2)
    with pytest.raises(RuntimeError, match="cannot be traced by torch.jit: " + CAUSE):
        torch.jit.trace(layer, torch.randn(3, 16))
    x = torch.randn(3, 16)
    assert layer(x).shape == x.shape  # the refused trace leaves the layer usable eagerly


def test_tracing_the_functional_form_is_refused():
    x, wg, w1, b1, w2, b2 = as_args(make_inputs(dtype=torch.float32))

    def layer(tokens):
        return flashmoe.moe(tokens, wg, w1, b1, w2, b2, top_k=2)

    with pytest.raises(RuntimeError, match="cannot be traced by torch.jit: " + CAUSE):
        torch.jit.trace(layer, x)


class _Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(8, 16)
        self.moe = flashmoe.MoE(16, 24, experts=4, top_k=2)

    def forward(self, x):
        return self.moe(self.embed(x))


@pytest.mark.parametrize("make", [lambda: flashmoe.MoE(16, 24, experts=4, top_k=2), _Model],
                         ids=["module", "inside_a_model"])
def test_scripting_is_refused(make):
    with pytest.raises(RuntimeError, match="cannot be scripted by torch.jit: " + CAUSE):
        torch.jit.script(make())


def test_tracing_a_model_around_the_layer_is_refused():
    with pytest.raises(RuntimeError, match="cannot be traced by torch.jit: " + CAUSE):
        torch.jit.trace(_Model(), torch.randn(3, 8))
