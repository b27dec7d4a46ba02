"""A second backward through a freed graph raises torch's own error (issue 10, row 16): the
layer's Function holds its state outside torch's saved tensors, so without its saved marker
torch could not tell, and the gradients were silently added twice."""
import pytest
import torch

import flashmoe
from conftest import as_args, make_inputs

SECOND_TIME = "backward through the graph a second time"


def test_module_second_backward_raises_and_leaves_gradients(backend):
    layer = flashmoe.MoE(16, 24, experts=4, top_k=2, backend=backend)
    x = torch.randn(9, 16, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    after_first = [p.grad.clone() for p in (x, layer.wg, layer.w1, layer.w2)]
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        y.sum().backward()
    for before, now in zip(after_first, (x.grad, layer.wg.grad, layer.w1.grad, layer.w2.grad)):
        assert torch.equal(before, now)  # the refused backward added nothing


def test_functional_second_backward_raises_after_autograd_grad(backend):
    x, wg, w1, b1, w2, b2 = as_args(make_inputs(bias=True), requires_grad=True)
    out, aux, z = flashmoe.moe(x, wg, w1, b1, w2, b2, top_k=2, return_losses=True,
                               backend=backend)
    # Only sums: any torch operation that saves a tensor (out.square()) would raise by itself.
    loss = out.sum() + aux + z
    torch.autograd.grad(loss, [x, w1])
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        loss.backward()


def test_retain_graph_keeps_the_graph_until_a_backward_without_it(backend):
    layer = flashmoe.MoE(8, 8, experts=2, top_k=1, backend=backend)
    y = layer(torch.randn(5, 8))
    y.sum().backward(retain_graph=True)
    once = layer.w1.grad.clone()
    y.sum().backward()  # the last use frees the graph
    assert torch.allclose(layer.w1.grad, 2 * once)
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        y.sum().backward()
