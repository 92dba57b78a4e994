"""One process or many (`torchrun`): the rank, the device and the collective helpers.

Under `torchrun` (WORLD_SIZE > 1) the process group uses NCCL on GPUs and gloo on CPUs. The
global batch is the same whatever the world size (each rank computes every `world`-th item, see
`derain.data.PatchSampler`) and DDP averages the gradients, so N processes follow the same
trajectory as one, up to floating-point summation order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from derain.errors import DerainError


@dataclass
class DistContext:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """Only rank 0 writes files and shows progress."""
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` = the GPU if there is one, else the CPU; `cuda` is refused without a GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DerainError("--device cuda requested but no CUDA GPU is available")
        return torch.device(name if ":" in name else f"cuda:{local_rank}")
    if name != "cpu":
        raise DerainError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    return torch.device("cpu")


def setup(device: str = "auto") -> DistContext:
    """Join the `torchrun` process group if there is one; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if world == 1:
        return DistContext(device=dev)
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), dev)


def barrier(ctx: DistContext) -> None:
    if ctx.world > 1:
        dist.barrier()


def mean_over_ranks(ctx: DistContext, values: dict[str, float]) -> dict[str, float]:
    """Average scalar logs over ranks (each rank saw an equal share of the batch)."""
    if ctx.world == 1 or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return dict(zip(values, (t / ctx.world).tolist()))


def teardown(ctx: DistContext) -> None:
    if ctx.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
