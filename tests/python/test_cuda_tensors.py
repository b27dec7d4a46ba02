"""CUDA tensors: flashmoe.moe hands them to the "cuda" backend, which reads them in place on
torch's current stream (flashmoe._C.CudaLayerCall). Where to run and the extension's checks are
tested everywhere (the extension is torch-free: a BufferRef can name a CUDA device even in a
CPU-only torch); the passes themselves only where torch has CUDA and the backend a GPU."""
import pytest
import torch

import flashmoe
from flashmoe import _C
from flashmoe._tensors import buffer_of
from flashmoe.functional import runs_on_gpu
from conftest import as_args, make_inputs

CPU, GPU0, GPU1 = torch.device("cpu"), torch.device("cuda", 0), torch.device("cuda", 1)


def test_cpu_tensors_stay_on_the_cpu_path_whatever_the_backend():
    for backend in (None, "cpu", "reference", "cuda"):
        assert runs_on_gpu([CPU, CPU], backend, 1) is False


def test_cuda_tensors_run_in_place_on_the_cuda_backend_only():
    assert runs_on_gpu([GPU0, GPU0, GPU0], None, 1) is True
    assert runs_on_gpu([GPU0, GPU0], "cuda", 1) is True
    with pytest.raises(ValueError, match="backend 'cpu' takes CPU tensors"):
        runs_on_gpu([GPU0, GPU0], "cpu", 1)
    with pytest.raises(ValueError, match="same device"):
        runs_on_gpu([GPU0, CPU], None, 1)
    with pytest.raises(ValueError, match="same device"):
        runs_on_gpu([GPU0, GPU1], "cuda", 1)
    with pytest.raises(ValueError, match="group='mpi'"):
        runs_on_gpu([GPU0, GPU0], None, 2)


def _cuda_buffers(inputs, devices=None, shapes=None):
    """BufferRefs of CPU tensors that claim to be on a GPU (real memory: a missed check cannot
    crash), optionally with other devices or shapes for some."""
    devices, shapes = devices or {}, shapes or {}
    refs = []
    for name in ("x", "wg", "w1", "b1", "w2", "b2"):
        tensor = inputs[name]
        if tensor is None:
            refs.append(None)
            continue
        shape = list(shapes.get(name, tensor.shape))
        strides = [1] * len(shape)
        for i in range(len(shape) - 2, -1, -1):
            strides[i] = strides[i + 1] * shape[i + 1]
        refs.append(_C.BufferRef(address=tensor.data_ptr(), shape=shape, strides=strides,
                                 dtype=str(tensor.dtype).replace("torch.", ""),
                                 device=devices.get(name, "cuda:0")))
    return refs


CONFIG = dict(hidden=24, ffn=20, experts=6, top_k=2, dtype="fp32")


@pytest.mark.parametrize("devices,shapes,message", [
    ({"w1": "cpu"}, {}, "tensor w1 is on cpu but x is on cuda:0"),
    ({"wg": "cuda:1"}, {}, "tensor wg is on cuda:1 but x is on cuda:0"),
    ({"x": "cpu"}, {}, "x is on the CPU"),
    ({"x": "cuda"}, {}, "device 'cuda'; allowed: cpu, cuda:N"),
    ({}, {"w2": (6, 24, 21)}, r"tensor w2: expected float32 \[6, 24, 20\]"),
])
def test_the_extension_checks_cuda_tensors_before_it_needs_a_gpu(devices, shapes, message):
    inputs = make_inputs(dtype=torch.float32)
    config = flashmoe.make_config(**CONFIG)
    with pytest.raises(ValueError, match=message):
        _C.CudaLayerCall(config, *_cuda_buffers(inputs, devices, shapes))


def test_without_a_usable_gpu_the_cuda_call_says_why():
    if "cuda" in flashmoe.backends() and not flashmoe.backend_unavailable("cuda"):
        pytest.skip("a GPU is usable here: the passes below run instead")
    inputs = make_inputs(dtype=torch.float32)
    config = flashmoe.make_config(**CONFIG)
    if "cuda" not in flashmoe.backends():
        with pytest.raises(NotImplementedError, match="no CUDA engine"):
            _C.CudaLayerCall(config, *_cuda_buffers(inputs))
    else:
        with pytest.raises(RuntimeError, match="backend cuda: " +
                           flashmoe.backend_unavailable("cuda").split(" (")[0]):
            _C.CudaLayerCall(config, *_cuda_buffers(inputs))


def test_a_host_copied_call_refuses_cuda_memory_naming_the_backend_that_takes_it():
    inputs = make_inputs(dtype=torch.float32)
    config = flashmoe.make_config(**CONFIG)
    x, wg, w1, b1, w2, b2 = _cuda_buffers(inputs, {"wg": "cpu", "w1": "cpu", "w2": "cpu"})
    with pytest.raises(ValueError, match="only backend 'cuda' takes CUDA tensors"):
        _C.LayerCall(config, x, buffer_of(inputs["wg"], "wg"), buffer_of(inputs["w1"], "w1"),
                     None, buffer_of(inputs["w2"], "w2"), None, backend=_C.default_backend())


def _gpu_or_skip():
    if not torch.cuda.is_available():
        pytest.skip("this torch has no CUDA device (a CPU build, or no GPU)")
    reason = flashmoe.backend_unavailable("cuda") if "cuda" in flashmoe.backends() else \
        "this flashmoe was built without the CUDA engine"
    if reason:
        pytest.skip(f"backend cuda cannot run here: {reason}")


def _moe_grads(args, **options):
    out, aux, z = flashmoe.moe(*args, top_k=2, return_losses=True, **options)
    (out.float().square().sum() + aux + z).backward()
    return [out.detach()] + [None if a is None else a.grad for a in args]


@pytest.mark.parametrize("dtype,activation,bias", [
    (torch.float32, "gelu", True), (torch.bfloat16, "swiglu", False),
    (torch.float16, "relu", True)])
def test_cuda_tensors_equal_the_cuda_backend_on_cpu_copies_bit_for_bit(dtype, activation, bias):
    _gpu_or_skip()
    inputs = make_inputs(activation=activation, bias=bias, dtype=dtype)
    on_host = _moe_grads(as_args(inputs, True), activation=activation, backend="cuda")
    on_gpu_args = [None if t is None else t.clone().cuda().requires_grad_(True)
                   for t in as_args(inputs)]
    on_gpu = _moe_grads(on_gpu_args, activation=activation)
    for host, gpu in zip(on_host, on_gpu):
        assert (host is None) == (gpu is None)
        if host is not None:
            assert gpu.is_cuda and gpu.dtype == host.dtype
            assert torch.equal(gpu.cpu(), host)


def test_cuda_tensors_match_the_reference_and_run_on_the_current_stream():
    _gpu_or_skip()
    inputs = make_inputs(bias=True, dtype=torch.float32)
    reference = _moe_grads(as_args(inputs, True), backend="reference")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        args = [None if t is None else t.clone().cuda().requires_grad_(True)
                for t in as_args(inputs)]
        on_gpu = _moe_grads(args)
    stream.synchronize()
    for want, got in zip(reference, on_gpu):
        if want is not None:  # SPEC §4's fp32 tolerance, as tests/python/test_agreement.py
            error = float((got.cpu().double() - want.double()).norm() / want.double().norm())
            assert error <= 1e-5


def test_a_second_backward_with_retain_graph_gives_the_same_gradients():
    _gpu_or_skip()
    layer = flashmoe.MoE(16, 24, experts=4, top_k=2).cuda()
    y = layer(torch.randn(9, 16, device="cuda"))
    y.sum().backward(retain_graph=True)
    once = layer.w1.grad.clone()
    y.sum().backward()
    assert torch.equal(layer.w1.grad, 2 * once)


def test_neither_pass_waits_for_the_gpu():
    """The forward and the backward only enqueue work on torch's stream (the losses and the
    routing counts are device tensors too): behind a long GPU sleep, each returns while the
    stream is still busy, and the results are those of an unhindered call."""
    _gpu_or_skip()
    layer = flashmoe.MoE(16, 24, experts=4, top_k=2).cuda()
    x = torch.randn(9, 16, device="cuda")
    want, want_aux, _ = layer(x, return_losses=True)
    want.sum().backward()
    want_grad = layer.w1.grad.clone()
    layer.w1.grad = None
    torch.cuda.synchronize()
    stream = torch.cuda.current_stream()
    torch.cuda._sleep(1 << 31)  # about a second of GPU clock cycles
    got, got_aux, _ = layer(x, return_losses=True)
    assert not stream.query(), "the forward waited for the GPU"
    got.sum().backward()
    assert not stream.query(), "the backward waited for the GPU"
    torch.cuda.synchronize()
    assert torch.equal(got, want) and torch.equal(got_aux, want_aux)
    assert torch.equal(layer.w1.grad, want_grad)
