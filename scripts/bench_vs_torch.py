#!/usr/bin/env python3
"""flashmoe's cpu engine against the MoE layer a PyTorch user writes, in one run, same inputs.

The PyTorch layer is the eager one of most MoE code bases: gate GEMM, softmax, top-k (weights
renormalised), then per expert a gather, x·W1ᵀ, the activation, ·W2ᵀ, and index_add_ of the
weighted rows into the output; autograd gives its backward. Both layers hold the same weights
and see the same x (and, for the backward, the same output gradient); the script first checks
that their outputs agree (relative L2), then times each, alternating, and prints the medians
and the speed-up with the CPU, torch's BLAS and flashmoe's GEMM path named.

  PYTHONPATH=build/release/python /usr/bin/python3 scripts/bench_vs_torch.py --dtype fp32

Both are dropless (every routed token is computed), so the work is identical. Threads: torch
uses --threads intra-op threads, flashmoe as many engine workers (its default: the hardware).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

import flashmoe


def parse_arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=4096, help="tokens (default 4096)")
    p.add_argument("--hidden", type=int, default=1024, help="H (default 1024)")
    p.add_argument("--ffn", type=int, default=1024, help="P (default 1024)")
    p.add_argument("--experts", type=int, default=16, help="E (default 16)")
    p.add_argument("--top_k", type=int, default=2, help="k (default 2)")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--warmup", type=int, default=2, help="untimed passes per layer (default 2)")
    p.add_argument("--repeats", type=int, default=5, help="timed passes per layer (default 5)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="torch intra-op threads (default: the hardware's)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = p.parse_args()
    for name in ("tokens", "hidden", "ffn", "experts", "top_k", "repeats", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be ≥ 1, got {getattr(args, name)}")
    if args.warmup < 0:
        p.error(f"--warmup must be ≥ 0, got {args.warmup}")
    if args.top_k > args.experts:
        p.error(f"--top_k ({args.top_k}) must be ≤ --experts ({args.experts})")
    return args


def eager_moe(x, wg, w1, w2, top_k):
    """The PyTorch user's layer: SPEC §2's math (gelu, renormalised top-k, dropless), the gate
    in fp32 as SPEC's and most routers' (a bf16 gate would flip near-tied experts)."""
    probs = torch.softmax(F.linear(x.float(), wg.float()), dim=-1)
    weights, experts = torch.topk(probs, top_k, dim=-1)
    weights = (weights / weights.sum(dim=-1, keepdim=True)).to(x.dtype)
    out = torch.zeros_like(x)
    for e in range(wg.shape[0]):
        token, slot = (experts == e).nonzero(as_tuple=True)
        if token.numel() == 0:
            continue
        h = F.gelu(F.linear(x[token], w1[e]))
        y = F.linear(h, w2[e]) * weights[token, slot].unsqueeze(-1)
        out = out.index_add(0, token, y)
    return out


def relative_l2(a, b):
    a, b = a.double(), b.double()
    return (torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-300)).item()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def torch_blas():
    """Which BLAS torch's libblas.so.3 resolves to (Debian's alternatives choose it)."""
    path = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
    return os.path.realpath(path) if os.path.exists(path) else "unknown (no " + path + ")"


def flashmoe_gemm_path(dtype):
    """The GEMM line `flashmoe run` prints for this dtype, from the flashmoe command if found."""
    try:
        out = subprocess.run([flashmoe.command.command_path(), "run", "--tokens", "8",
                              "--hidden", "16", "--ffn", "16", "--experts", "2", "--dtype", dtype],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return f"unknown ({e})"
    lines = [l.strip() for l in out.splitlines() if l.strip().startswith(dtype + " GEMM")]
    return lines[0] if lines else "unknown (flashmoe run printed no GEMM line)"


def time_passes(layers, backward, warmup, repeats, dout):
    """Alternates the layers' passes; returns each layer's timed seconds."""
    seconds = {name: [] for name in layers}
    for call in range(warmup + repeats):
        for name, run in layers.items():
            start = time.perf_counter()
            if backward:
                out = run()
                out.backward(dout)
            else:
                with torch.no_grad():
                    run()
            elapsed = time.perf_counter() - start
            if call >= warmup:
                seconds[name].append(elapsed)
            print(f"  {'backward' if backward else 'forward'} {name} "
                  f"{'run' if call >= warmup else 'warm-up'}: {elapsed * 1e3:.1f} ms",
                  file=sys.stderr, flush=True)
    return seconds


def main():
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = torch.float32 if args.dtype == "fp32" else torch.bfloat16
    layer = flashmoe.MoE(args.hidden, args.ffn, args.experts, args.top_k, activation="gelu",
                         drop_tokens=False, dtype=dtype)
    x = torch.randn(args.tokens, args.hidden, dtype=dtype).requires_grad_(True)
    dout = torch.randn(args.tokens, args.hidden, dtype=dtype)
    wg, w1, w2 = layer.wg, layer.w1, layer.w2

    with torch.no_grad():
        agreement = relative_l2(layer(x), eager_moe(x, wg, w1, w2, args.top_k))
    # bf16: SPEC §4 allows each layer 2e-2 against the fp64 reference, so two may be twice that
    # apart (torch also rounds h and every product to bf16).
    tolerance = 1e-4 if args.dtype == "fp32" else 4e-2
    if not agreement < tolerance:
        sys.exit(f"bench_vs_torch: the layers disagree: relative L2 {agreement:.3g} ≥ {tolerance}")

    layers = {"torch": lambda: eager_moe(x, wg, w1, w2, args.top_k), "flashmoe": lambda: layer(x)}
    results = {}
    for backward in (False, True):
        seconds = time_passes(layers, backward, args.warmup, args.repeats, dout)
        medians = {name: statistics.median(s) for name, s in seconds.items()}
        results["forward+backward" if backward else "forward"] = {
            "seconds": seconds, "median_s": medians,
            "speedup": medians["torch"] / medians["flashmoe"]}

    print(f"bench_vs_torch: {args.tokens} tokens, H={args.hidden} P={args.ffn} E={args.experts} "
          f"k={args.top_k} gelu {args.dtype} dropless; outputs agree to {agreement:.2g} (rel. L2)")
    print(f"cpu: {cpu_model()}; {os.cpu_count()} hardware threads, torch threads {args.threads}")
    print(f"torch {torch.__version__}, BLAS {torch_blas()}")
    print(f"flashmoe {flashmoe_gemm_path(args.dtype)}")
    print(f"{'pass':18}{'torch ms':>10}{'flashmoe ms':>13}{'speed-up':>10}")
    for name, r in results.items():
        print(f"{name:18}{r['median_s']['torch'] * 1e3:10.1f}{r['median_s']['flashmoe'] * 1e3:13.1f}"
              f"{r['speedup']:9.2f}×")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"options": vars(args), "cpu": cpu_model(), "torch": torch.__version__,
                       "torch_blas": torch_blas(), "agreement_relative_l2": agreement,
                       "passes": results}, f, indent=2)


if __name__ == "__main__":
    main()
