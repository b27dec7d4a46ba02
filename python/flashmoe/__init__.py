"""flashmoe: a distributed Mixture-of-Experts layer (gate, dispatch, expert FFN, combine,
forward and backward) run by flashmoe's C++ engine. See docs/python.md.

    layer = flashmoe.MoE(hidden=64, ffn=128, experts=8, top_k=2)
    out, aux, z = layer(x, return_losses=True)
"""
try:
    from . import _C
except ImportError as error:  # pragma: no cover - depends on how the package was installed
    raise ImportError(
        "flashmoe's compiled extension flashmoe._C is missing: build the CMake target "
        "flashmoe_python_ext and put <build>/python on PYTHONPATH, or `pip install .` "
        "(docs/python.md)") from error

from .functional import backend_unavailable, backends, make_config, moe
from .module import MoE
from .routing import RoutingRecord
from .world import World

__version__ = _C.__version__
__all__ = ["MoE", "moe", "RoutingRecord", "World", "backend_unavailable", "backends", "make_config", "__version__"]
