"""Why flashmoe's layer refuses torch.jit, said once for flashmoe.moe and flashmoe.MoE.

Neither tracing nor scripting can capture the layer: which expert each token reaches (and how
many tokens each expert keeps) depends on the values of x, so a trace would replay one input's
routing for every input; and the layer runs in flashmoe's C++ extension, which TorchScript
cannot call (it is not a registered TorchScript operator). Without this refusal a trace fails
deep inside with a confusing message (sizes read from the traced tensors arrive as tensors:
"invalid value 'tensor(4)' for key 'experts'").
"""
import torch

_WHY = ("its routing is data-dependent (which expert each token reaches depends on the values "
        "of x, so a trace would replay one input's routing for every input) and it runs "
        "flashmoe's C++ extension flashmoe._C, which is not a TorchScript operator. Call the "
        "layer eagerly instead: trace or script only the modules before and after it")


def refuse_tracing():
    """RuntimeError when called under torch.jit.trace (also torch.onnx.export, which traces)."""
    if torch.jit.is_tracing():
        raise RuntimeError(f"flashmoe's MoE layer cannot be traced by torch.jit: {_WHY}")


def refuse_scripting():
    """RuntimeError for torch.jit.script, raised from MoE.__prepare_scriptable__."""
    raise RuntimeError(f"flashmoe's MoE layer cannot be scripted by torch.jit: {_WHY}")
