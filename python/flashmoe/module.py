"""flashmoe.MoE: an nn.Module holding the gate and this rank's experts in SPEC §1's layouts."""
import math

import torch
from torch import nn

from ._arguments import checked
from ._tensors import layer_dtype_name
from ._torchscript import refuse_scripting, refuse_tracing
from .functional import make_config, moe
from .world import resolve_world


class MoE(nn.Module):
    """A Mixture-of-Experts layer: out = Σ_j w[t,j] · expert_{e_j(t)}(x_t) (SPEC §2).

    Parameters (nn.Linear convention [out_features, in_features]; L = experts / world size):
      wg [experts, hidden]         the gate, replicated on every rank
      w1 [L, ffn or 2·ffn, hidden] first expert projection (gated activations: gate rows, then
                                   up rows)
      b1 [L, ffn or 2·ffn]         only with bias=True
      w2 [L, hidden, ffn]          second expert projection
      b2 [L, hidden]               only with bias=True
    initialised as nn.Linear would: U(±1/√fan_in).

    forward(x) takes [..., hidden] (leading dimensions are flattened into tokens) and returns
    the output of x's shape, or (out, aux_loss, z_loss) with return_losses=True.
    `last_routing` holds the RoutingRecord of the last call (tokens flattened).

    group=None: W = 1 (this process holds every expert). group="mpi": this process is one rank
    of the MPI job (see flashmoe.moe and docs/python.md): it holds experts
    [rank·L, (rank+1)·L); forward and backward are collective over the ranks, and wg.grad is
    this rank's part (sum it over the ranks, e.g. flashmoe.world.all_reduce_).
    """

    def __init__(self, hidden, ffn, experts, top_k=2, *, activation="gelu", bias=False,
                 capacity_factor=1.25, drop_tokens=True, normalize_weights=True, dtype=None,
                 device=None, backend=None, group=None):
        super().__init__()
        if dtype is None:
            dtype = torch.get_default_dtype()
        layer_dtype_name(dtype)  # TypeError for a non-dtype, ValueError for one it does not run
        world = resolve_world(group)
        # Check now (TypeError or ValueError naming the argument) rather than at the first
        # forward, and keep the config's values: the checked ones, as plain Python types.
        config = make_config(world_size=world.size, hidden=hidden, ffn=ffn, experts=experts,
                             top_k=top_k, activation=activation, bias=bias,
                             capacity_factor=capacity_factor, drop_tokens=drop_tokens,
                             normalize_weights=normalize_weights)
        self.hidden, self.ffn, self.experts = config.hidden, config.ffn, config.experts
        self.top_k, self.activation, self.bias = config.top_k, config.activation, config.bias
        self.capacity_factor, self.drop_tokens = config.capacity_factor, config.drop_tokens
        self.normalize_weights = config.normalize_weights
        self.backend = checked("backend", backend, "str", none_allowed=True)
        self.group = group
        self.local_experts = self.experts // world.size
        L, H, P, rows = self.local_experts, self.hidden, self.ffn, config.w1_rows
        factory = {"dtype": dtype, "device": device}
        self.wg = nn.Parameter(torch.empty(self.experts, H, **factory))
        self.w1 = nn.Parameter(torch.empty(L, rows, H, **factory))
        self.w2 = nn.Parameter(torch.empty(L, H, P, **factory))
        if self.bias:
            self.b1 = nn.Parameter(torch.empty(L, rows, **factory))
            self.b2 = nn.Parameter(torch.empty(L, H, **factory))
        else:
            self.register_parameter("b1", None)
            self.register_parameter("b2", None)
        self.last_routing = None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self):
        """U(±1/√fan_in) for every weight and bias, as nn.Linear initialises both."""
        for tensor, fan_in in ((self.wg, self.hidden), (self.w1, self.hidden), (self.b1, self.hidden),
                               (self.w2, self.ffn), (self.b2, self.ffn)):
            if tensor is not None:
                bound = 1.0 / math.sqrt(fan_in)
                tensor.uniform_(-bound, bound)

    def forward(self, x, return_losses=False):
        refuse_tracing()  # before x's shape is read, which a trace would record
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() == 0 or x.shape[-1] != self.hidden:
            raise ValueError(f"tensor x: expected shape [..., {self.hidden}], got {list(x.shape)}")
        if x.dim() != 2 and not x.is_contiguous():
            raise ValueError("tensor x must be contiguous (row-major) (call .contiguous() first)")
        tokens = x.view(-1, self.hidden) if x.dim() != 2 else x
        out, aux, z, routing = moe(
            tokens, self.wg, self.w1, self.b1, self.w2, self.b2, top_k=self.top_k,
            activation=self.activation, capacity_factor=self.capacity_factor,
            drop_tokens=self.drop_tokens, normalize_weights=self.normalize_weights,
            return_losses=True, return_routing=True, backend=self.backend, group=self.group)
        self.last_routing = routing
        out = out.view(x.shape)
        return (out, aux, z) if return_losses else out

    def __prepare_scriptable__(self):
        # torch.jit.script calls this on every module it is about to compile: refusing here says
        # why, where compiling forward would fail on the extension call with TorchScript's own
        # unrelated-looking error.
        refuse_scripting()

    def extra_repr(self):
        return (f"hidden={self.hidden}, ffn={self.ffn}, experts={self.experts}, "
                f"top_k={self.top_k}, activation={self.activation!r}, bias={self.bias}, "
                f"capacity_factor={self.capacity_factor}, drop_tokens={self.drop_tokens}, "
                f"normalize_weights={self.normalize_weights}, local_experts={self.local_experts}")
