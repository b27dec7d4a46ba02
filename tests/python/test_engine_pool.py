"""The cpu engine's layers are kept between calls (python/src/engine_pool.hpp): a call of the
same configuration reuses an idle layer, gives the same bits as a fresh one, and a layer kept
for a pending backward is never lent to another call."""
import torch

import flashmoe
from flashmoe import _C


def make_layer(seed, tokens=13, dtype=torch.float32):
    torch.manual_seed(seed)
    layer = flashmoe.MoE(16, 24, experts=4, top_k=2, backend="cpu", dtype=dtype)
    return layer, torch.randn(tokens, 16, dtype=dtype)


def test_repeated_calls_reuse_a_layer_and_give_the_same_bits():
    layer, x = make_layer(0)
    with torch.no_grad():
        first = layer(x)
        idle_after_first = _C._idle_engine_layers()
        second = layer(x)
    assert idle_after_first >= 1
    assert _C._idle_engine_layers() == idle_after_first  # the second call took it and gave it back
    assert torch.equal(first, second)


def test_a_reused_layer_computes_new_inputs_not_the_last_ones():
    layer, x = make_layer(1)
    with torch.no_grad():
        layer(x)
        y = layer(2 * x)
        fresh, _ = make_layer(1)
        fresh.load_state_dict(layer.state_dict())
    reference = flashmoe.MoE(16, 24, experts=4, top_k=2, backend="reference")
    reference.load_state_dict(layer.state_dict())
    with torch.no_grad():
        expected = reference(2 * x)
    assert torch.allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_a_kept_layer_is_not_lent_while_its_backward_is_pending():
    layer, x = make_layer(2)
    xa = x.clone().requires_grad_(True)
    xb = (x + 1).requires_grad_(True)
    ya = layer(xa)  # keeps its layer for the backward
    yb = layer(xb)  # must get another one
    yb.sum().backward()
    ya.sum().backward()
    reference = flashmoe.MoE(16, 24, experts=4, top_k=2, backend="reference")
    reference.load_state_dict(layer.state_dict())
    ra, rb = x.clone().requires_grad_(True), (x + 1).requires_grad_(True)
    reference(ra).sum().backward()
    reference(rb).sum().backward()
    assert torch.allclose(xa.grad, ra.grad, rtol=1e-5, atol=1e-6)
    assert torch.allclose(xb.grad, rb.grad, rtol=1e-5, atol=1e-6)


def test_the_pool_stays_bounded():
    with torch.no_grad():
        for tokens in range(1, 12):  # each token count is a configuration of its own
            layer, x = make_layer(3, tokens=tokens)
            layer(x)
    assert _C._idle_engine_layers() <= 4
