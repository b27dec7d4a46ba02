"""Wrong arguments raise Python exceptions naming the problem — never a crash."""
import pytest
import torch

import flashmoe
from flashmoe import _C
from flashmoe._tensors import buffer_of
from conftest import as_args, make_inputs

OPTIONS = dict(top_k=2)


NAMES = ("x", "wg", "w1", "b1", "w2", "b2")


def args32(**changes):
    args = dict(zip(NAMES, as_args(make_inputs(dtype=torch.float32))))
    args.update(changes)
    return args


def call(backend=flashmoe.backends()[0], **changes):
    """flashmoe.moe on a valid fp32 problem with some tensors or options replaced."""
    tensors = args32(**{k: v for k, v in changes.items() if k in NAMES})
    options = {**OPTIONS, **{k: v for k, v in changes.items() if k not in NAMES}}
    return flashmoe.moe(*(tensors[name] for name in NAMES), backend=backend, **options)


# Sizes come from wg (E, H) and w2 (P); the tensor that disagrees with them is named.
@pytest.mark.parametrize("name,shape", [("x", (37, 23)), ("w1", (6, 20, 23)), ("w1", (5, 20, 24)),
                                        ("w2", (6, 24)), ("wg", (6,))])
def test_wrong_shape(name, shape):
    with pytest.raises(ValueError, match=name):
        call(**{name: torch.zeros(shape)})


def test_x_must_be_2d_in_functional_form():
    with pytest.raises(ValueError, match="x"):
        call(x=torch.zeros(2, 37, 24))


def test_wrong_dtype_of_one_weight():
    with pytest.raises(ValueError, match=r"w2.*float32.*float64"):
        call(w2=torch.zeros(6, 24, 20, dtype=torch.float64))


def test_unsupported_dtype():
    with pytest.raises(ValueError, match="int64"):
        call(x=torch.zeros(37, 24, dtype=torch.int64))


def test_fp16_refused_by_the_engine():
    if "cpu" not in flashmoe.backends():
        pytest.skip("the cpu engine is not built in")
    inputs = {k: v.half() for k, v in args32().items() if v is not None}
    with pytest.raises(ValueError, match="fp16"):
        flashmoe.moe(inputs["x"], inputs["wg"], inputs["w1"], None, inputs["w2"], None, top_k=2,
                     backend="cpu")


def test_non_contiguous_input():
    wide = torch.zeros(37, 48)
    with pytest.raises(ValueError, match="contiguous"):
        call(x=wide[:, ::2])
    with pytest.raises(ValueError, match="contiguous"):
        call(w1=torch.zeros(6, 24, 20).transpose(1, 2))


def test_not_a_tensor():
    with pytest.raises(TypeError, match="x"):
        call(x=[[0.0] * 24] * 37)


def test_other_device():
    with pytest.raises(ValueError, match="device 'meta'"):
        call(x=torch.zeros(37, 24, device="meta"))


@pytest.mark.parametrize("changes,key", [
    (dict(top_k=7), "top_k"),              # k > E
    (dict(top_k=0), "top_k"),
    (dict(capacity_factor=0.0), "capacity_factor"),
    (dict(capacity_factor=-1.0), "capacity_factor"),
    (dict(activation="tanh"), "activation"),
])
def test_invalid_configuration(changes, key):
    with pytest.raises(ValueError, match=key):
        call(**changes)


def test_gated_activation_needs_2p_rows():
    with pytest.raises(ValueError, match="w1"):
        call(activation="swiglu")


def test_one_bias_only():
    with pytest.raises(ValueError, match="b1"):
        call(b1=torch.zeros(6, 20))


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        call(backend="gpu")


def test_multi_rank_needs_an_mpi_job():
    # A plain process is not an MPI job (tests/python/mpi_job.py runs the real one under mpirun).
    expected = ValueError if flashmoe._C.mpi_built() else NotImplementedError
    with pytest.raises(expected, match="MPI"):
        flashmoe.moe(*as_args(make_inputs(experts=6, dtype=torch.float32)), top_k=2,
                     group=flashmoe.World(size=2, rank=0))


def test_module_configuration_checked_at_construction():
    with pytest.raises(ValueError, match="top_k"):
        flashmoe.MoE(16, 32, experts=4, top_k=5)
    with pytest.raises(ValueError, match="hidden"):
        flashmoe.MoE(0, 32, experts=4, top_k=2)


def test_module_wrong_hidden_size():
    layer = flashmoe.MoE(16, 32, experts=4, top_k=2)
    with pytest.raises(ValueError, match=r"\[\.\.\., 16\]"):
        layer(torch.zeros(3, 15))


@pytest.mark.parametrize("kind,exception", [("argument", ValueError),
                                            ("not_built", NotImplementedError),
                                            ("timeout", TimeoutError), ("error", RuntimeError)])
def test_error_translation(kind, exception):
    with pytest.raises(exception, match="the C\\+\\+ message"):
        _C._raise_error(kind, "the C++ message")
