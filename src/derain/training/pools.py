"""The real-image pools of the connected tasks and distillation, with their held-out split.

Every set of a pool is split by `holdout_split(names, holdout, split_seed)`; the stages that learn
from real images (teachers A and B, distillation) share the split through their configs, so the
images a teacher is scored on were never seen by any of them. `RealPoolsStage` is what those
three stages have in common.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from derain.data import Concat, PatchSampler, Transform, View, fixed_patches, holdout_split, open_view, stack
from derain.errors import DerainError
from derain.training.config import RealPoolsConfig
from derain.training.loop import Stage


@dataclass
class Pool:
    """The training and held-out images of one pool (e.g. all the real rainy sets)."""

    train: Concat
    held: Concat


def open_pool(specs: list[str], cfg: RealPoolsConfig, root: str | None) -> Pool:
    """Open, split and concatenate the sets `specs` (each `NAME` or `NAME:ROLE`, one image per item)."""
    train: dict[str, View] = {}
    held: dict[str, View] = {}
    for spec in specs:
        view = open_view(spec, root, cache_bytes=cfg.cache_mb << 20)
        if len(view.roles) != 1:
            raise DerainError(f"pool entry {spec!r} is a paired set; say which images to use "
                              f"({spec}:rainy or {spec}:clean)")
        keep, out = holdout_split(view.names, cfg.holdout, cfg.split_seed)
        keep = keep[: cfg.max_images or None]
        train[spec], held[spec] = view.subset(keep), view.subset(out)
    return Pool(Concat(train), Concat(held))


def describe(pools: dict[str, Pool]) -> dict[str, Any]:
    """Which images each pool trained on and held out, for data.json."""
    return {label: {"train": p.train.names, "held_out": p.held.names} for label, p in pools.items()}


class Balanced:
    """Half of every batch from the rainy pool, half from the rain-free one (their sizes differ 1:6)."""

    def __init__(self, rainy: Pool, clean: Pool, batch_size: int, transform: Transform, seed: int) -> None:
        if batch_size % 2:
            raise DerainError(f"batch_size must be even (half rainy, half rain-free), got {batch_size}")
        self.rainy = PatchSampler(rainy.train, batch_size // 2, transform, seed, stream=1)
        self.clean = PatchSampler(clean.train, batch_size // 2, transform, seed, stream=2)

    def batch(self, step: int, rank: int, world: int) -> tuple[list[torch.Tensor], int]:
        """Per role, this rank's rainy items then its rain-free ones; and how many are rainy."""
        rainy, clean = self.rainy.batch(step, rank, world)[0], self.clean.batch(step, rank, world)[0]
        return [torch.cat([r, c]) for r, c in zip(rainy, clean)], len(rainy[0])


def held_out(pools: dict[str, Pool], transform: Transform, seed: int, limit: int,
             per_image: int = 1) -> dict[str, list[torch.Tensor]]:
    """Fixed patches of the first `limit` held-out images of each pool, per role."""
    return {label: stack(fixed_patches(p.held, transform, seed, limit, per_image)) for label, p in pools.items()}


class RealPoolsStage(Stage):
    """A stage that learns from real photos: the rainy and rain-free pools, half of each batch from each."""

    cfg: RealPoolsConfig

    def open_pools(self, root: str | None, transform: Transform, val_transform: Transform, val_crops: int = 1) -> None:
        """Open both pools with their held-out split, the balanced sampler and the fixed validation patches.

        Called once the trained module exists, so that its initial weights are drawn first.
        """
        cfg = self.cfg
        self.pools = {"rainy": open_pool(cfg.rainy, cfg, root), "clean": open_pool(cfg.clean, cfg, root)}
        self.sampler = Balanced(self.pools["rainy"], self.pools["clean"], cfg.batch_size, transform, cfg.seed)
        self.val = held_out(self.pools, val_transform, cfg.seed, cfg.val_images, val_crops)

    def provenance(self) -> dict[str, Any]:
        return describe(self.pools)

    def model_meta(self) -> dict[str, Any]:
        return {"training_data": {"real_rainy": self.cfg.rainy, "real_clean": self.cfg.clean, "names": "data.json"}}
