"""flashmoe: a distributed Mixture-of-Experts layer (gate, dispatch, expert FFN, combine,
forward and backward) run by flashmoe's C++ engine. See docs/python.md.

    layer = flashmoe.MoE(hidden=64, ffn=128, experts=8, top_k=2)
    out, aux, z = layer(x, return_losses=True)

or, as FlashDMoE's README runs it, one call on random inputs with the command's summary:

    result = flashmoe.run_moe(n_processes=2, hidden=256, ffn=512, tokens=128)
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
from .run import run_moe
from .saved_run import RunResult, load_saved_run
from .world import World

__version__ = _C.__version__
__all__ = ["MoE", "moe", "RoutingRecord", "RunResult", "World", "backend_unavailable", "backends",
           "load_saved_run", "make_config", "run_moe", "__version__"]
