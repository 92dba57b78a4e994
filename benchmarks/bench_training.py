"""Training throughput of a derainer for a few batch/patch choices, as ratios to the shipped recipe.

    python benchmarks/bench_training.py                       # rain_unet_s, 1 thread
    python benchmarks/bench_training.py --threads 2 --bf16    # also bf16 autocast of the forward pass

Times full optimisation steps (forward, L1 + (1 - SSIM), backward, clipping, Adam) of the network
on random batches, so the table is about the network and not the data on disk; rendering the
training pairs adds about 16 % per step (docs/DECISIONS.md). Each row is the median of `--steps`
steps after `--warmup` steps; `pixels/s` is what the budget is counted in (100k steps of 8 x 128²
= 1.3e10 pixels), and `ratio` is pixels/s relative to the first row (batch 8 x 128², fp32), measured
in the same run. bf16 is only meaningful where the CPU has avx512_bf16 or AMX (see `lscpu`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch

from derain.archs import create_model
from derain.training.losses import Restoration

SHAPES = ((8, 128), (16, 96), (4, 192), (8, 96))  # (batch, patch); the first is the shipped recipe


def seconds_per_step(arch: str, batch: int, patch: int, bf16: bool, steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    module = Restoration(create_model(arch), ssim_weight=1.0, features=False).train()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4, foreach=True)
    rainy, clean = torch.rand(batch, 3, patch, patch), torch.rand(batch, 3, patch, patch)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            loss, _ = module(rainy, clean)
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="rain_unet_s")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="Also time bf16 autocast of the forward pass.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    print(f"{args.arch}, {args.threads} thread(s), median of {args.steps} steps\n")
    print("| batch x patch | precision | s/step | steps/s | pixels/s | ratio |\n|---|---|---:|---:|---:|---:|")
    baseline = None
    for batch, patch in SHAPES:
        for bf16 in (False, True) if args.bf16 else (False,):
            seconds = seconds_per_step(args.arch, batch, patch, bf16, args.steps, args.warmup)
            rate = batch * patch * patch / seconds
            baseline = baseline or rate
            print(f"| {batch} x {patch}² | {'bf16' if bf16 else 'fp32'} | {seconds:.3f} | {1 / seconds:.2f} | "
                  f"{rate / 1e6:.2f} M | {rate / baseline:.2f} |", flush=True)


if __name__ == "__main__":
    main()
