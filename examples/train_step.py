"""Train a small flashmoe MoE layer to imitate a fixed random "teacher" MoE layer.

    PYTHONPATH=build/<preset>/python python3 examples/train_step.py [--steps 300] [--backend cpu]

The student starts from its own random weights and learns the teacher's function from its
outputs alone (mean squared error, plus a small load-balance loss so the student's router keeps
every expert busy). The printed relative error, mse / mean(target²), falls from about 1 to about
0.1 in 300 steps (a few seconds on two cores).
"""
import argparse
import time

import torch

import flashmoe


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=256, help="tokens per batch")
    parser.add_argument("--backend", default=None, help=f"one of {flashmoe.backends()}")
    parser.add_argument("--aux-weight", type=float, default=1e-2)
    args = parser.parse_args()

    torch.manual_seed(0)
    shape = dict(hidden=16, ffn=64, experts=8, top_k=2, activation="gelu")
    teacher = flashmoe.MoE(**shape, backend=args.backend).requires_grad_(False)
    with torch.no_grad():  # a teacher larger than the student's initial output is a clearer target
        for parameter in teacher.parameters():
            parameter.mul_(3.0)
    # Dropless, so the student's early, unbalanced routing does not discard tokens.
    student = flashmoe.MoE(**shape, drop_tokens=False, backend=args.backend)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)

    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x = torch.randn(args.tokens, shape["hidden"])
        target = teacher(x)
        out, aux, _ = student(x, return_losses=True)
        mse = (out - target).square().mean()
        relative = float(mse) / float(target.square().mean())
        loss = mse + args.aux_weight * aux
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 1 or step % 50 == 0:
            print(f"step {step:4d}  relative error {relative:.3f}  aux {float(aux):.3f}  "
                  f"dropped {student.last_routing.dropped}")
    print(f"{args.steps} steps in {time.perf_counter() - start:.1f} s "
          f"(backend {args.backend or flashmoe.backends()[0]})")


if __name__ == "__main__":
    main()
