"""Arguments are type-checked as the C++ Config types its fields (issue 10, row 17): a str,
a bool where an int belongs, an int where a bool belongs, ... are TypeErrors naming the
argument and the expected type, in MoE, moe, make_config and run_moe alike, instead of being
converted to text the C++ parser accepts (top_k="2" used to build a layer whose top_k was '2')."""
import numpy as np
import pytest
import torch

import flashmoe
from conftest import as_args, make_inputs

SIZES = dict(hidden=16, ffn=24, experts=4)

# (argument, wrong value, the expected type as the message words it, the type given)
WRONG = [
    ("top_k", "2", "an int", "str"),
    ("top_k", 2.0, "an int", "float"),
    ("top_k", True, "an int", "bool"),
    ("experts", torch.tensor(4), "an int", "Tensor"),
    ("drop_tokens", "no", "a bool", "str"),
    ("normalize_weights", 0, "a bool", "int"),
    ("bias", 1, "a bool", "int"),
    ("capacity_factor", "1.5", "a float or an int", "str"),
    ("capacity_factor", False, "a float or an int", "bool"),
    ("activation", 1, "a str", "int"),
]


def _message(name, expected, given):
    return rf"argument {name} must be {expected}\b.*got {given}\b"


@pytest.mark.parametrize("name,value,expected,given", WRONG)
def test_module_arguments(name, value, expected, given):
    with pytest.raises(TypeError, match=_message(name, expected, given)):
        flashmoe.MoE(**{**SIZES, name: value})


@pytest.mark.parametrize("name,value,expected,given", WRONG)
def test_make_config_fields(name, value, expected, given):
    with pytest.raises(TypeError, match=_message(name, expected, given)):
        flashmoe.make_config(**{**SIZES, "top_k": 2, name: value})


@pytest.mark.parametrize("name,value,expected,given", [
    *(case for case in WRONG if case[0] not in ("experts", "bias")),  # those come from tensors
    ("return_losses", "yes", "a bool", "str"),
    ("return_routing", 1, "a bool", "int"),
    ("backend", 0, "a str or None", "int"),
])
def test_functional_arguments(name, value, expected, given):
    tensors = as_args(make_inputs(dtype=torch.float32))
    with pytest.raises(TypeError, match=_message(name, expected, given)):
        flashmoe.moe(*tensors, **{"top_k": 2, name: value})


def test_module_backend_dtype_and_group():
    with pytest.raises(TypeError, match=_message("backend", "a str or None", "int")):
        flashmoe.MoE(**SIZES, backend=1)
    with pytest.raises(TypeError, match=r"dtype must be a torch\.dtype.*got str"):
        flashmoe.MoE(**SIZES, dtype="float32")
    with pytest.raises(ValueError, match="dtype torch.int64 is not supported"):
        flashmoe.MoE(**SIZES, dtype=torch.int64)
    with pytest.raises(TypeError, match="group must be None, 'mpi', a flashmoe.World"):
        flashmoe.MoE(**SIZES, group=2)


def test_make_config_world_size():
    with pytest.raises(TypeError, match=_message("world_size", "an int", "bool")):
        flashmoe.make_config(**SIZES, world_size=True)


@pytest.mark.parametrize("arguments,message", [
    (dict(top_k="2"), _message("top_k", "an int", "str")),             # an override
    (dict(normalize_weights=0), _message("normalize_weights", "a bool", "int")),
    (dict(n_processes=True), _message("n_processes", "an int", "bool")),
    (dict(n_processes=2.0), _message("n_processes", "an int", "float")),
    (dict(backward="yes"), _message("backward", "a bool", "str")),
    (dict(mpi=1), _message("mpi", "a bool", "int")),
])
def test_run_moe_arguments(arguments, message):
    # Refused before the command starts: no configuration file is needed to reach the check.
    with pytest.raises(TypeError, match=message):
        flashmoe.run_moe({"hidden": 16}, **arguments)


def test_numpy_values_and_ints_for_floats_are_accepted_as_plain_python():
    layer = flashmoe.MoE(np.int64(16), 24, experts=np.int32(4), top_k=np.int64(2),
                         capacity_factor=2, drop_tokens=np.bool_(False),
                         normalize_weights=np.bool_(True))
    assert (type(layer.hidden), type(layer.experts), type(layer.top_k)) == (int, int, int)
    assert type(layer.capacity_factor) is float and layer.capacity_factor == 2.0
    assert layer.drop_tokens is False and layer.normalize_weights is True
    x = torch.randn(5, 16)
    assert layer(x).shape == x.shape
