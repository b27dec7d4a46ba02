"""flashmoe.moe: the functional MoE layer and its autograd Function.

The Function keeps the extension's LayerCall from forward to backward. In one process with the
"cpu" engine, when some input needs a gradient, the LayerCall keeps the engine's layer and the
backward runs from the forward's state (no recomputation). Otherwise — the reference backend,
an MPI world, a second backward with retain_graph — its backward re-runs the forward with
backward = true on the input copies it took (the engine is deterministic, SPEC §5, and the
extension checks that the recomputed routing equals the forward's). docs/python.md says why
MPI recomputes.

CUDA tensors go to the "cuda" backend through a second Function, which hands the extension the
tensors' device addresses and torch's current stream (the extension reads them in place, stays
torch-free and never copies them to the host) and saves the inputs for its backward.
"""
import torch
from torch.autograd.function import once_differentiable

from . import _C
from ._arguments import checked, checked_config_value
from ._tensors import accumulation_dtype, buffer_of, fetch, fetch_cuda, layer_dtype_name
from ._torchscript import refuse_tracing
from .routing import RoutingRecord
from .world import resolve_world

_GRADIENT_NAMES = ("dx", "dwg", "dw1", "db1", "dw2", "db2")


def _config_text(value):
    """A Python value in the text form flashmoe's set_config_field parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest exact form
    return str(value)


def make_config(*, world_size=1, **fields):
    """A validated flashmoe._C.Config: TypeError naming the key when a value has the wrong type
    (flashmoe._arguments), ValueError naming the key, its value and what is allowed."""
    world_size = checked("world_size", world_size, "int")
    texts = {key: _config_text(checked_config_value(key, v)) for key, v in fields.items()}
    return _C.make_config(texts, world_size)


def _dim(tensor, name, dims):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() != dims:
        raise ValueError(f"tensor {name}: expected {dims} dimensions, got shape {list(tensor.shape)}")
    return tensor.shape


class _Record:
    """Filled by the Function's forward with what is not a differentiable output."""

    routing = None


class _MoEFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, config, backend, world, record, x, wg, w1, b1, w2, b2):
        call = _C.LayerCall(
            config,
            buffer_of(x, "x"),
            buffer_of(wg, "wg"),
            buffer_of(w1, "w1"),
            None if b1 is None else buffer_of(b1, "b1"),
            buffer_of(w2, "w2"),
            None if b2 is None else buffer_of(b2, "b2"),
            backend=backend,
            world_size=world.size,
            rank=world.rank,
            keep_for_backward=any(ctx.needs_input_grad[4:]),
        )
        loss_dtype = accumulation_dtype(x.dtype)
        out = fetch(call, "out", x.shape, x.dtype)
        aux = torch.tensor(call.aux_loss, dtype=loss_dtype)
        z = torch.tensor(call.z_loss, dtype=loss_dtype)
        record.routing = _routing_of(call, x.shape[0], config.top_k, loss_dtype)
        # The LayerCall holds the forward's state or copies of the inputs; their shapes and
        # dtypes are all backward needs. The one saved tensor, empty, is the graph's liveness
        # marker: torch frees saved tensors after a backward without retain_graph=True, so
        # reading it in backward raises torch's own "Trying to backward through the graph a
        # second time" instead of silently adding the gradients again; with retain_graph=True
        # torch keeps it and the second backward runs (recomputing, see the module docstring).
        ctx.save_for_backward(torch.empty(0))
        ctx.call = call
        ctx.specs = [None if t is None else (t.shape, t.dtype) for t in (x, wg, w1, b1, w2, b2)]
        return out, aux, z

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, d_aux, d_z):
        ctx.saved_tensors  # raises once the graph was freed by an earlier backward (see forward)
        x_shape, x_dtype = ctx.specs[0]
        dout = dout.to(dtype=x_dtype).contiguous()
        ctx.call.backward(buffer_of(dout, "dout"), float(d_aux), float(d_z))
        grads = []
        for name, spec, needed in zip(_GRADIENT_NAMES, ctx.specs, ctx.needs_input_grad[4:]):
            grads.append(fetch(ctx.call, name, *spec) if spec is not None and needed else None)
        return (None, None, None, None, *grads)


class _MoECudaFunction(torch.autograd.Function):
    """The layer on CUDA tensors: the extension's CudaLayerCall reads them in place on torch's
    current stream and keeps the forward's state on the GPU for the backward."""

    @staticmethod
    def forward(ctx, config, record, x, wg, w1, b1, w2, b2):
        call = _C.CudaLayerCall(config, *_buffers(x, wg, w1, b1, w2, b2),
                                stream=_current_stream(x))
        loss_dtype = accumulation_dtype(x.dtype)
        out = fetch_cuda(call, "out", x.dtype)
        aux = fetch_cuda(call, "aux_loss", loss_dtype)
        z = fetch_cuda(call, "z_loss", loss_dtype)
        record.routing = _cuda_routing_of(call, loss_dtype)
        # The pass read the inputs in place and its backward reads them again: saving them keeps
        # their memory alive until then, and torch's version counters raise if one is changed in
        # place in between (and, as for the CPU Function, a second backward without
        # retain_graph=True raises once the graph was freed).
        ctx.save_for_backward(x, wg, w1, b1, w2, b2)
        ctx.call = call
        return out, aux, z

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, d_aux, d_z):
        inputs = ctx.saved_tensors
        x = inputs[0]
        dout = dout.to(dtype=x.dtype).contiguous()
        ctx.call.backward(*_buffers(*inputs), dout=buffer_of(dout, "dout"), d_aux=float(d_aux),
                          d_z=float(d_z), stream=_current_stream(x))
        grads = []
        for name, tensor, needed in zip(_GRADIENT_NAMES, inputs, ctx.needs_input_grad[2:]):
            grads.append(fetch_cuda(ctx.call, name, tensor.dtype)
                         if tensor is not None and needed else None)
        return (None, None, *grads)


def _buffers(x, wg, w1, b1, w2, b2):
    """The BufferRefs of the layer's inputs, in the extension's argument order."""
    return (buffer_of(x, "x"), buffer_of(wg, "wg"), buffer_of(w1, "w1"),
            None if b1 is None else buffer_of(b1, "b1"), buffer_of(w2, "w2"),
            None if b2 is None else buffer_of(b2, "b2"))


def _current_stream(tensor):
    """torch's current stream on the tensor's GPU, as the integer handle the extension takes."""
    return torch.cuda.current_stream(tensor.device).cuda_stream


def _cuda_routing_of(call, weight_dtype):
    return RoutingRecord(
        topk_idx=fetch_cuda(call, "topk_index", torch.int32),
        topk_weight=fetch_cuda(call, "topk_weight", weight_dtype),
        kept=fetch_cuda(call, "kept", torch.uint8).bool(),
        tokens_per_expert=fetch_cuda(call, "routed", torch.int64),
        tokens_per_expert_kept=fetch_cuda(call, "accepted", torch.int64),
    )


def runs_on_gpu(devices, backend, world_size):
    """Whether a call whose tensors are on `devices` runs on them in place on a GPU: True when
    they are CUDA tensors (all on the same GPU; only the "cuda" backend takes them, in one
    process), False when none is (the extension then checks that every one is on the CPU).
    ValueError saying what to change otherwise."""
    cuda = [d for d in devices if d.type == "cuda"]
    if not cuda:
        return False
    first = cuda[0]
    for device in devices:
        if device != first:
            raise ValueError(f"the tensors are on {first} and {device}: every tensor of a call must "
                             "be on the same device")
    if world_size > 1:
        raise ValueError(f"tensors on {first} with group='mpi': the 'cuda' backend runs one "
                         "process's layer on one GPU; multi-GPU expert parallelism is not built yet")
    if backend not in (None, "cuda"):
        raise ValueError(f"tensors on {first}: backend '{backend}' takes CPU tensors; pass "
                         "backend='cuda' (or None), or move the tensors with .cpu()")
    return True


def _routing_of(call, tokens, top_k, weight_dtype):
    kept = fetch(call, "kept", (tokens, top_k), torch.uint8).bool()
    return RoutingRecord(
        topk_idx=fetch(call, "topk_index", (tokens, top_k), torch.int32),
        topk_weight=fetch(call, "topk_weight", (tokens, top_k), weight_dtype),
        kept=kept,
        tokens_per_expert=torch.tensor(call.routed, dtype=torch.int64),
        tokens_per_expert_kept=torch.tensor(call.accepted, dtype=torch.int64),
    )


def moe(x, wg, w1, b1, w2, b2, *, top_k, activation="gelu", capacity_factor=1.25,
        drop_tokens=True, normalize_weights=True, return_losses=False, return_routing=False,
        backend=None, group=None):
    """The MoE layer of SPEC §2 on this rank's tokens, differentiable through torch.autograd.

    x [S, H]; wg [E, H]; w1 [E/W, P or 2P, H]; b1 [E/W, P or 2P] or None; w2 [E/W, H, P];
    b2 [E/W, H] or None (both biases or neither). Sizes and the dtype come from the tensors;
    every tensor must be contiguous, of x's dtype (fp64, fp32, bf16, fp16; fp16 is refused by
    the "cpu" engine) and on x's device: CPU tensors go to `backend`; CUDA tensors (all on one
    GPU) go to the "cuda" backend, which reads them in place on torch's current stream.

    Returns out [S, H]; with return_losses=True, (out, aux_loss, z_loss) (0-dim tensors in fp64
    for fp64 layers, fp32 otherwise; their gradients flow to wg and x); with
    return_routing=True, a RoutingRecord is appended to the returned tuple.
    backend: "cpu" (the fused engine; default when built), "reference", or "cuda" (the fused
    engine on the GPU; CPU tensors are copied to it and back, CUDA tensors are read in place).
    group: None (this process alone, W = 1) or "mpi" (this process is one rank of the MPI job
    started by mpirun; W = its size; collective: every rank calls moe and backward together, in
    the same order; only the "cpu" backend). Over MPI, x is this rank's tokens and w1/b1/w2/b2
    this rank's experts [rank·E/W, (rank+1)·E/W); dx is complete for this rank's tokens,
    dw1..db2 are the local experts' full gradients, dwg is this rank's tokens' contribution —
    sum wg.grad over the ranks (flashmoe.world.all_reduce_) as for a data-parallel parameter.
    """
    world = resolve_world(group)

    def checked_arguments():
        refuse_tracing()
        E, H = _dim(wg, "wg", 2)
        rows = _dim(w1, "w1", 3)[1]
        P = _dim(w2, "w2", 3)[2]
        if (b1 is None) != (b2 is None):
            raise ValueError("pass both b1 and b2 (bias = true) or neither (bias = false)")
        _dim(x, "x", 2)
        # Checked under their own names (make_config would name them aux_loss and z_loss).
        losses = checked("return_losses", return_losses, "bool")
        routing = checked("return_routing", return_routing, "bool")
        backend_name = checked("backend", backend, "str", none_allowed=True)
        config = make_config(
            world_size=world.size, hidden=H, ffn=P, experts=E, top_k=top_k, activation=activation,
            capacity_factor=capacity_factor, drop_tokens=drop_tokens, bias=b1 is not None,
            normalize_weights=normalize_weights, dtype=layer_dtype_name(x.dtype),
            aux_loss=losses, z_loss=losses)
        if config.w1_rows != rows:
            kind = "2P (gated activation)" if config.w1_rows == 2 * P else "P"
            raise ValueError(f"tensor w1: expected {config.w1_rows} rows = {kind} for activation "
                             f"{activation} and P = {P} (from w2), got shape {list(w1.shape)}")
        for tensor, name in zip((x, wg, w1, b1, w2, b2), _INPUT_NAMES):
            if tensor is not None:
                buffer_of(tensor, name)  # dtype, device and layout checks
        devices = [t.device for t in (x, wg, w1, b1, w2, b2) if t is not None]
        on_gpu = runs_on_gpu(devices, backend_name, world.size)
        return config, losses, routing, backend_name, on_gpu

    if world.size == 1:
        config, losses, routing, backend_name, on_gpu = checked_arguments()
    else:
        config, losses, routing, backend_name, on_gpu = _agreed(checked_arguments)
    record = _Record()
    tensors = (x, wg, w1, b1, w2, b2)
    if on_gpu:
        out, aux, z = _MoECudaFunction.apply(config, record, *tensors)
    else:
        out, aux, z = _MoEFunction.apply(config, backend_name or _C.default_backend(), world,
                                         record, *tensors)
    results = (out, aux, z) if losses else (out,)
    if routing:
        results += (record.routing,)
    return results[0] if len(results) == 1 else results


_INPUT_NAMES = ("x", "wg", "w1", "b1", "w2", "b2")


def _agreed(check):
    """check() on every rank of the MPI job, then a collective agreement: when any rank's check
    raised, every rank raises (that rank its own error, the others one naming it) instead of
    leaving the others waiting in the layer's collectives."""
    try:
        result = check()
    except Exception:
        _C.mpi_agree(True)
        raise
    failed, _ = _C.mpi_agree(False)
    if failed >= 0:
        raise ValueError(f"rank {failed} of the MPI job refused its arguments (its error says "
                         "why); every rank abandons this layer call")
    return result


def backends():
    """Names of the backends built into this flashmoe, the default first."""
    return [name for name, _ in _C.backends()]


def backend_unavailable(name):
    """Why backend `name` cannot run on this machine (e.g. 'cuda' without a GPU); '' when it can."""
    return _C.backend_unavailable(name)
