"""torch.Tensor <-> flashmoe._C.BufferRef: the only place where torch meets the extension.

The extension sees addresses, shapes, strides and dtype names, never torch objects, so one
build of flashmoe._C works with any torch version.
"""
import torch

from . import _C

# torch dtype -> flashmoe's layer dtype name (Config key `dtype`).
LAYER_DTYPES = {
    torch.float64: "fp64",
    torch.float32: "fp32",
    torch.bfloat16: "bf16",
    torch.float16: "fp16",
}


def layer_dtype_name(dtype):
    """The flashmoe dtype name of a torch floating dtype; ValueError for any other dtype,
    TypeError for what is not a torch.dtype (a name such as "float32")."""
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype (e.g. torch.float32), got "
                        f"{type(dtype).__name__} {dtype!r}")
    try:
        return LAYER_DTYPES[dtype]
    except KeyError:
        allowed = ", ".join(str(d) for d in LAYER_DTYPES)
        raise ValueError(f"dtype {dtype} is not supported; allowed: {allowed}") from None


def accumulation_dtype(dtype):
    """Where flashmoe accumulates (SPEC §4): fp64 for fp64 layers, fp32 for every other."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def buffer_of(tensor, name):
    """A BufferRef describing `tensor` (no copy). The extension checks device, dtype, shape and
    contiguity and names `name` in its errors."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    return _C.BufferRef(
        address=tensor.data_ptr(),
        shape=list(tensor.shape),
        strides=list(tensor.stride()),
        dtype=str(tensor.dtype).replace("torch.", ""),
        device=str(tensor.device),
    )


def fetch(call, name, shape, dtype):
    """A new CPU tensor holding result `name` of a LayerCall, converted to `dtype`."""
    tensor = torch.empty(shape, dtype=dtype)
    call.copy_out(name, buffer_of(tensor, name))
    return tensor


# The element types a CudaLayerCall's results have (its result_dtype names).
_RESULT_DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
}


def fetch_cuda(call, name, dtype):
    """A new tensor on the call's GPU holding result `name` of a CudaLayerCall, converted to
    `dtype`: copied on the device, on the stream of the call's latest pass (torch's current
    stream then), and converted by torch where the result's own type differs (out and dx are
    held in fp32 for bf16/fp16 layers, SPEC §4)."""
    tensor = torch.empty(call.result_shape(name), dtype=_RESULT_DTYPES[call.result_dtype(name)],
                         device=torch.device("cuda", call.device))
    call.copy_out(name, buffer_of(tensor, name))
    return tensor if tensor.dtype == dtype else tensor.to(dtype)
