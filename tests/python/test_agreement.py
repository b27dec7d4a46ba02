"""flashmoe.moe against the pure-torch SPEC oracle (spec_torch.py) in fp64: outputs, losses,
routing and every gradient, within SPEC §4's tolerances for fp32 and bf16. The oracle replays
flashmoe's routing (decisions at near-ties may legitimately differ in low precision); in fp32
the routing decided by the oracle itself must also be the same."""
import pytest
import torch

import flashmoe
from conftest import as_args, make_inputs
from spec_torch import spec_moe

TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 2e-2}
GRADIENTS = ("dx", "dwg", "dw1", "db1", "dw2", "db2")
CASES = [
    # activation, bias, normalize_weights, drop_tokens, capacity_factor, top_k
    ("gelu", False, True, True, 1.25, 2),
    ("swiglu", True, True, True, 0.75, 2),
    ("relu", True, False, False, 1.0, 3),
    ("geglu", False, False, True, 0.5, 1),
]


def rel_l2(actual, expected):
    actual, expected = actual.double(), expected.double()
    return float((actual - expected).norm() / expected.norm().clamp_min(1e-300))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("activation,bias,normalize,drop,factor,top_k", CASES)
def test_matches_spec(backend, dtype, activation, bias, normalize, drop, factor, top_k):
    options = dict(top_k=top_k, activation=activation, capacity_factor=factor, drop_tokens=drop,
                   normalize_weights=normalize)
    inputs = make_inputs(activation=activation, bias=bias, dtype=dtype, seed=3)
    args = as_args(inputs, requires_grad=True)
    out, aux, z, routing = flashmoe.moe(*args, **options, return_losses=True,
                                        return_routing=True, backend=backend)

    # The oracle in fp64 on the same (rounded) values, replaying flashmoe's routing.
    exact = as_args({k: None if v is None else v.double() for k, v in inputs.items()}, True)
    spec = spec_moe(*exact, **options, routing=(routing.topk_idx, routing.kept))
    assert torch.equal(routing.tokens_per_expert, spec.routed)
    assert torch.equal(routing.tokens_per_expert_kept, spec.accepted)

    tolerance = TOLERANCE[dtype]
    assert out.dtype == dtype
    assert rel_l2(out, spec.out) <= tolerance
    assert rel_l2(routing.topk_weight, spec.weights) <= tolerance
    assert abs(float(aux) - float(spec.aux)) <= tolerance * abs(float(spec.aux))
    assert abs(float(z) - float(spec.z)) <= tolerance * abs(float(spec.z))

    # Gradients of ⟨dout, out⟩ + d_aux·aux + d_z·z.
    generator = torch.Generator().manual_seed(4)
    dout = torch.randn(out.shape, generator=generator, dtype=torch.float64).to(dtype)
    d_aux, d_z = 0.3, 0.7
    (out.double() * dout.double()).sum().add(d_aux * aux + d_z * z).backward()
    expected_loss = (spec.out * dout.double()).sum() + d_aux * spec.aux + d_z * spec.z
    expected_loss.backward()
    for name, mine, theirs in zip(GRADIENTS, args, exact):
        if mine is None:
            continue
        assert mine.grad.dtype == dtype, name
        error = rel_l2(mine.grad, theirs.grad)
        assert error <= tolerance, f"{name}: relative L2 error {error:.3g} > {tolerance}"

    if dtype == torch.float32:  # the oracle's own routing decisions agree too
        own = spec_moe(*[None if t is None else t.detach() for t in exact], **options)
        assert torch.equal(routing.topk_idx.long(), own.topk_idx)
        assert torch.equal(routing.kept, own.kept)


def test_routing_record_shapes_and_drops(backend):
    inputs = make_inputs(tokens=40, experts=4, seed=5, dtype=torch.float32)
    *_, routing = flashmoe.moe(*as_args(inputs), top_k=2, capacity_factor=0.5,
                               return_routing=True, backend=backend)
    assert routing.topk_idx.shape == (40, 2) and routing.topk_idx.dtype == torch.int32
    assert routing.kept.dtype == torch.bool and routing.topk_weight.dtype == torch.float32
    assert int(routing.tokens_per_expert.sum()) == 80
    capacity = 10  # ceil(0.5 · 40 · 2 / 4)
    assert int(routing.tokens_per_expert_kept.max()) <= capacity
    assert routing.dropped == 80 - int(routing.tokens_per_expert_kept.sum()) > 0


def test_each_backend_is_bitwise_repeatable(backend):
    inputs = make_inputs(dtype=torch.float32, seed=6)
    first = flashmoe.moe(*as_args(inputs), top_k=2, backend=backend)
    second = flashmoe.moe(*as_args(inputs), top_k=2, backend=backend)
    assert torch.equal(first, second)  # SPEC §5


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_backends_agree_with_each_other(dtype):
    """Every backend against every other on one problem: the same routing decision, and outputs
    and gradients within twice the dtype's tolerance (each is within it of fp64)."""
    names = [name for name in flashmoe.backends() if not flashmoe.backend_unavailable(name)]
    if len(names) < 2:
        pytest.skip(f"only one backend can run here ({names[0]}): nothing to compare it with")
    inputs = make_inputs(dtype=dtype, activation="swiglu", bias=True, seed=8)
    dout = torch.randn(inputs["x"].shape, generator=torch.Generator().manual_seed(5)).to(dtype)
    runs = {}
    for name in names:
        args = as_args(inputs, requires_grad=True)
        out, routing = flashmoe.moe(*args, top_k=2, activation="swiglu", capacity_factor=1.0,
                                    return_routing=True, backend=name)
        (out.double() * dout.double()).sum().backward()
        runs[name] = (out, routing, [None if a is None else a.grad for a in args])
    tolerance = 2 * TOLERANCE[dtype]
    first, *others = names
    out0, routing0, grads0 = runs[first]
    for name in others:
        out, routing, grads = runs[name]
        assert torch.equal(routing.topk_idx, routing0.topk_idx), f"{name} vs {first}: top-k"
        assert torch.equal(routing.kept, routing0.kept), f"{name} vs {first}: kept"
        assert rel_l2(out, out0) <= tolerance, f"{name} vs {first}: out"
        for gradient, mine, theirs in zip(GRADIENTS, grads, grads0):
            if mine is not None:
                error = rel_l2(mine, theirs)
                assert error <= tolerance, f"{name} vs {first}: {gradient} {error:.3g}"


def test_no_tokens(backend):
    inputs = make_inputs(tokens=0, dtype=torch.float32)
    args = as_args(inputs, requires_grad=True)
    out, aux, z = flashmoe.moe(*args, top_k=2, return_losses=True, backend=backend)
    assert out.shape == (0, 24) and float(aux) == 0.0 and float(z) == 0.0
    (out.sum() + aux + z).backward()
    assert all(t.grad is None or float(t.grad.abs().sum()) == 0.0 for t in args if t is not None)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_kept_forward_state_gives_the_recomputed_gradients(dtype):
    """The cpu engine's backward from the forward's kept state equals, bit for bit, the backward
    that recomputes the forward; the first backward uses the kept state, a second recomputes."""
    from flashmoe import _C
    from flashmoe._tensors import buffer_of, fetch

    if "cpu" not in flashmoe.backends():
        pytest.skip("the cpu engine is not built into this flashmoe")
    inputs = make_inputs(dtype=dtype, activation="swiglu", bias=True, seed=9)
    tensors = [inputs[name] for name in ("x", "wg", "w1", "b1", "w2", "b2")]
    config = flashmoe.functional.make_config(
        hidden=24, ffn=20, experts=6, top_k=2, activation="swiglu", bias=True,
        dtype="fp32" if dtype == torch.float32 else "bf16", aux_loss=True, z_loss=True)
    dout = torch.randn(inputs["x"].shape, generator=torch.Generator().manual_seed(3)).to(dtype)

    def gradients(keep, times=1):
        call = _C.LayerCall(config, *[buffer_of(t, "t") for t in tensors], backend="cpu",
                            keep_for_backward=keep)
        assert call.keeps_forward_state == keep
        for _ in range(times):
            call.backward(buffer_of(dout, "dout"), 0.5, 0.25)
        assert not call.keeps_forward_state
        return {name: fetch(call, name, t.shape, torch.float32)
                for name, t in zip(GRADIENTS, tensors)}

    kept, recomputed, twice = gradients(True), gradients(False), gradients(True, times=2)
    for name in GRADIENTS:
        assert torch.equal(kept[name], recomputed[name]), name
        assert torch.equal(twice[name], recomputed[name]), name
