"""flashmoe.MoE: parameters, initialisation, state_dict, shapes, training through autograd."""
import io

import pytest
import torch

import flashmoe


def test_parameters_in_spec_layouts():
    layer = flashmoe.MoE(16, 12, experts=4, top_k=2, activation="swiglu", bias=True)
    shapes = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    assert shapes == {"wg": (4, 16), "w1": (4, 24, 16), "b1": (4, 24), "w2": (4, 16, 12),
                      "b2": (4, 16)}
    plain = flashmoe.MoE(16, 12, experts=4, top_k=2)
    assert {name for name, _ in plain.named_parameters()} == {"wg", "w1", "w2"}
    assert plain.b1 is None and plain.b2 is None


def test_initialised_like_nn_linear():
    torch.manual_seed(0)
    layer = flashmoe.MoE(64, 256, experts=8, top_k=2, bias=True)
    for name, fan_in in (("wg", 64), ("w1", 64), ("b1", 64), ("w2", 256), ("b2", 256)):
        values = getattr(layer, name).detach()
        bound = fan_in ** -0.5
        assert float(values.abs().max()) <= bound
        assert float(values.abs().max()) > 0.9 * bound  # spread over the whole range
        assert abs(float(values.mean())) < 0.1 * bound


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_state_dict_round_trip(dtype, backend):
    torch.manual_seed(1)
    layer = flashmoe.MoE(16, 24, experts=4, top_k=2, bias=True, dtype=dtype, backend=backend)
    saved = io.BytesIO()
    torch.save(layer.state_dict(), saved)
    torch.manual_seed(2)
    restored = flashmoe.MoE(16, 24, experts=4, top_k=2, bias=True, dtype=dtype, backend=backend)
    saved.seek(0)
    restored.load_state_dict(torch.load(saved))
    for name, value in layer.state_dict().items():
        assert torch.equal(value, restored.state_dict()[name]), name
    x = torch.randn(9, 16).to(dtype)
    assert torch.equal(layer(x), restored(x))


def test_leading_dimensions_and_last_routing(backend):
    layer = flashmoe.MoE(16, 24, experts=4, top_k=2, backend=backend)
    x = torch.randn(3, 5, 16)
    out, aux, z = layer(x, return_losses=True)
    assert out.shape == x.shape and aux.dim() == 0 and z.dim() == 0
    assert layer.last_routing.topk_idx.shape == (15, 2)
    assert torch.equal(out.view(15, 16), layer(x.view(15, 16)))


def test_module_matches_functional_form(backend):
    layer = flashmoe.MoE(16, 24, experts=4, top_k=2, activation="relu", backend=backend)
    x = torch.randn(11, 16)
    expected = flashmoe.moe(x, layer.wg, layer.w1, None, layer.w2, None, top_k=2,
                            activation="relu", backend=backend)
    assert torch.equal(layer(x), expected)


def test_gradients_reach_every_parameter_and_input(backend):
    layer = flashmoe.MoE(16, 24, experts=4, top_k=2, bias=True, backend=backend)
    x = torch.randn(13, 16, requires_grad=True)
    out, aux, z = layer(x, return_losses=True)
    (out.square().mean() + 0.01 * aux + 0.001 * z).backward()
    for name, parameter in layer.named_parameters():
        assert parameter.grad is not None and parameter.grad.shape == parameter.shape, name
        assert float(parameter.grad.abs().sum()) > 0, name
    assert x.grad is not None and x.grad.shape == x.shape


def test_training_reduces_loss(backend):
    torch.manual_seed(3)
    layer = flashmoe.MoE(8, 16, experts=4, top_k=2, backend=backend)
    x = torch.randn(64, 8)
    target = torch.sin(x)
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = (layer(x) - target).square().mean()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0]
