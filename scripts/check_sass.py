#!/usr/bin/env python3
"""Checks the persistent kernel's machine code without a GPU (CI's stand-in for running it).

Reads an object file built by nvcc (src/engine/cuda/kernels.cu) with cuobjdump and fails unless,
for every architecture it holds:
  - the bf16 persistent kernel issues HMMA.16816.F32.BF16 and the fp16 one HMMA.16816.F32
    (mma.sync m16n8k16: the expert GEMMs' tensor-core tile, tile::Sm80Half16), both also
    LDSM.16.MT88.4 (ldmatrix.trans: the backward's MN-major operands on that tile), and the fp32
    one HMMA.1688.F32.TF32 (m16n8k8 tf32, tile::Sm80Tf32TN, for layers with allow_tf32);
  - every persistent kernel's registers and static shared memory allow at least
    --min-blocks-per-sm co-resident blocks of --threads threads (what the launcher plans with);
  - every persistent kernel's stack (local memory per thread: register spills, the call ABI's
    saved registers, local arrays) is at most --max-stack-bytes, or for the kernel of element
    type TYPE (its template argument as demangled: double, float, flashmoe::bfloat16) at most
    the N of --stack-budget TYPE=N. CI passes 0 for every kernel (measured: none has local
    memory), so that local memory can never come back unnoticed.
The kernel's SASS holds its non-inlined callees (whole-program compilation), so every count is
per kernel. cuobjdump needs nvdisasm: on PATH, or NVDISASM_PATH.

Usage: check_sass.py --cuobjdump PATH OBJECT [--threads 128] [--min-blocks-per-sm 2]
                     [--max-stack-bytes N] [--stack-budget TYPE=N ...]
Prints one line per architecture and kernel, and the verdict last; exit status 1 on a failure,
2 on a usage or tool error.
"""

import argparse
import re
import subprocess
import sys

# Per architecture: registers per SM, and the register allocation unit per warp.
REGISTERS_PER_SM = {"sm_80": 65536, "sm_90": 65536, "sm_90a": 65536}
SHARED_PER_SM = {"sm_80": 167936, "sm_90": 233472, "sm_90a": 233472}
MAX_BLOCKS_PER_SM = {"sm_80": 32, "sm_90": 32, "sm_90a": 32}
REGISTER_UNIT = 256  # registers are allocated per warp in units of 256

KERNEL = "persistent_pass_kernel"
# The instructions each kernel must issue, by its element type as the demangled name spells it:
# its expert GEMMs' tensor-core MMA, and for the 16-bit layers ldmatrix.trans (LDSM.16.MT88),
# which only the MN-major operands of the backward's GEMMs load with. fp64 has none.
# The match is whole: HMMA.16816.F32 (fp16 operands) must not count HMMA.16816.F32.BF16.
REQUIRED = {
    "<flashmoe::bfloat16>": ["HMMA.16816.F32.BF16", "LDSM.16.MT88.4"],
    "<flashmoe::float16>": ["HMMA.16816.F32", "LDSM.16.MT88.4"],
    "<float>": ["HMMA.1688.F32.TF32"],
}
WHAT = {"HMMA": "its expert GEMMs are not on tensor cores",
        "LDSM.16.MT88": "its backward's MN-major operands are not on tensor cores"}


def issues(line, op):
    return re.search(re.escape(op) + r"(?![.\w])", line) is not None


def run(tool, *args):
    try:
        done = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
    except OSError as error:
        sys.exit(f"check_sass: cannot run {tool}: {error}")
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        sys.exit(2)
    return done.stdout


def demangle(names):
    if not names:
        return {}
    done = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
    return dict(zip(names, done.stdout.splitlines())) if done.returncode == 0 else {
        n: n for n in names}


def split_by_arch(text, header):
    """{arch: section text} for cuobjdump output whose sections start with `arch = sm_XX`."""
    sections, arch, lines = {}, None, []
    for line in text.splitlines():
        m = re.match(r"\s*arch = (sm_\w+)", line)
        if m:
            if arch:
                sections.setdefault(arch, []).extend(lines)
            arch, lines = m.group(1), []
        elif arch:
            lines.append(line)
    if arch:
        sections.setdefault(arch, []).extend(lines)
    return {a: "\n".join(ls) for a, ls in sections.items()}


def functions_in_sass(section):
    """{mangled function name: [instruction lines]} of one architecture's SASS."""
    functions, name = {}, None
    for line in section.splitlines():
        m = re.match(r"\s*Function : (\S+)", line)
        if m:
            name = m.group(1)
            functions[name] = []
        elif name and re.search(r"/\*[0-9a-f]{4,}\*/", line):
            functions[name].append(line)
    return functions


def resources(section):
    """{mangled function name: {REG, STACK, SHARED, LOCAL}} from cuobjdump -res-usage."""
    usage = {}
    lines = section.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*Function (\S+):", line)
        if m and i + 1 < len(lines):
            usage[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+):(\d+)", lines[i + 1])}
    return usage


def blocks_per_sm(arch, registers, shared, threads):
    warps = (threads + 31) // 32
    per_warp = (registers * 32 + REGISTER_UNIT - 1) // REGISTER_UNIT * REGISTER_UNIT
    by_registers = REGISTERS_PER_SM[arch] // max(per_warp * warps, 1)
    by_shared = SHARED_PER_SM[arch] // max(shared, 1)
    return min(by_registers, by_shared, MAX_BLOCKS_PER_SM[arch])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("object")
    parser.add_argument("--cuobjdump", required=True)
    parser.add_argument("--threads", type=int, default=128)
    parser.add_argument("--min-blocks-per-sm", type=int, default=2)
    parser.add_argument("--max-stack-bytes", type=int, default=None)
    parser.add_argument("--stack-budget", action="append", default=[], metavar="TYPE=N")
    args = parser.parse_args()
    budgets = {}
    for item in args.stack_budget:
        element, _, bytes_ = item.partition("=")
        if not element or not bytes_.isdigit():
            parser.error(f"--stack-budget {item!r}: expected TYPE=N, e.g. double=496")
        budgets[f"<{element}>"] = int(bytes_)

    sass = split_by_arch(run(args.cuobjdump, "-sass", args.object), "sass")
    usage = split_by_arch(run(args.cuobjdump, "-res-usage", args.object), "res")
    if not sass:
        print(f"check_sass: no SASS in {args.object} (built for PTX only?)")
        return 1
    failures = []
    for arch in sorted(sass):
        if arch not in REGISTERS_PER_SM:
            failures.append(f"{arch}: unexpected architecture")
            continue
        functions = functions_in_sass(sass[arch])
        names = demangle(list(functions))
        used = resources(usage.get(arch, ""))
        kernels = [f for f in functions if KERNEL in f]
        if not kernels:
            failures.append(f"{arch}: no {KERNEL} in the object")
        for f in kernels:
            name = re.sub(r"\(.*", "", names.get(f, f))
            lines = functions[f]
            wanted = next((ops for t, ops in REQUIRED.items() if name.endswith(t)), [])
            counts = {op: sum(issues(line, op) for line in lines) for op in wanted}
            local = sum(bool(re.search(r"\b(LDL|STL)(\.\w+)*\b", line)) for line in lines)
            u = used.get(f, {})
            reg, shared, stack = u.get("REG", 0), u.get("SHARED", 0), u.get("STACK", 0)
            blocks = blocks_per_sm(arch, reg, shared, args.threads)
            print(f"{arch}: {name}: {reg} registers, {shared} B shared, {stack} B stack "
                  f"({local} LDL/STL), {blocks} blocks/SM of {args.threads} threads, "
                  + (", ".join(f"{n} {op}" for op, n in counts.items()) or "no tensor-core tile"))
            for op, n in counts.items():
                if n == 0:
                    why = next(w for prefix, w in WHAT.items() if op.startswith(prefix))
                    failures.append(f"{arch}: {name} issues no {op}: {why}")
            if blocks < args.min_blocks_per_sm:
                failures.append(f"{arch}: {name} allows {blocks} blocks per SM, the launcher "
                                f"expects {args.min_blocks_per_sm}")
            budget = next((n for t, n in budgets.items() if name.endswith(t)),
                          args.max_stack_bytes)
            if budget is not None and stack > budget:
                failures.append(f"{arch}: {name} uses {stack} B of stack per thread, over the "
                                f"budget of {budget}")
    for failure in failures:
        print("FAIL", failure)
    print("check_sass:", "FAIL" if failures else "PASS", f"({len(sass)} architectures)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
