"""Stages 1 and 2: the teachers, trained on real photos only (docs/METHOD.md sections 2 and 3).

Teacher A (recognition) tells real rainy from real rain-free crops. Every crop, of either class,
is taken at a random scale, mirrored and re-compressed at a random JPEG quality, so neither the
photo's resolution nor its compression history can be the cue. Teacher B (reconstruction)
restores real patches, rainy and rain-free alike, degraded by the scattering model.

Both draw half of each batch from the rainy pool and half from the rain-free one, and are scored
on the images that the shared held-out split keeps away from every real-data stage.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from derain.archs import create_model, require
from derain.data import (View, compose, fixed_patches, open_dataset, random_crop, random_flip, random_jpeg,
                         random_scaled_crop, scatter, stack)
from derain.training.config import RecognitionConfig, ReconstructionConfig
from derain.training.losses import Restoration, batch_psnr
from derain.training.pools import RealPoolsStage


class ClassifierModule(nn.Module):
    """Binary cross-entropy of the rainy logit."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = F.binary_cross_entropy_with_logits(self.net(images), labels)
        return loss, {"bce": loss}


class RecognitionStage(RealPoolsStage):
    """Teacher A: rainy (1) vs rain-free (0) real photos."""

    cfg: RecognitionConfig

    def __init__(self, name: str, cfg: RecognitionConfig, root: str | None = None) -> None:
        super().__init__(name, cfg)
        require(cfg.arch, "classify", features=True, who=self.name)
        self.module = ClassifierModule(create_model(cfg.arch))
        self.transform = compose(random_scaled_crop(cfg.patch, *cfg.rescale), random_flip(),
                                 random_jpeg(*cfg.jpeg_quality))
        self.open_pools(root, self.transform, self.transform, cfg.val_crops)
        self.udgnet = View(open_dataset("udgnet43", root), cache_bytes=0) if cfg.score_udgnet43 else None

    def batch(self, step: int, rank: int, world: int) -> list[torch.Tensor]:
        (images,), rainy = self.sampler.batch(step, rank, world)
        labels = torch.zeros(len(images))
        labels[:rainy] = 1.0
        return [images, labels]

    def _rainy_share(self, crops: torch.Tensor, device: torch.device) -> float:
        """Share of images (each `val_crops` consecutive crops, mean logit) scored rainy."""
        logits = torch.cat([self.module.net(chunk.to(device)) for chunk in crops.split(64)])
        return float((logits.view(-1, self.cfg.val_crops).mean(dim=1) > 0).float().mean())

    def validate(self, device: torch.device) -> dict[str, float]:
        rainy, clean = self._rainy_share(self.val["rainy"][0], device), self._rainy_share(self.val["clean"][0], device)
        metrics = {"val_acc": (rainy + 1.0 - clean) / 2, "val_acc_rainy": rainy, "val_acc_clean": 1.0 - clean}
        if self.udgnet is not None:
            crops = stack(fixed_patches(self.udgnet, self.transform, self.cfg.seed, self.cfg.val_images,
                                        self.cfg.val_crops))
            metrics["udgnet43_rainy"] = self._rainy_share(crops[0], device)
        return metrics

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "scored_only": ["udgnet43"] if self.udgnet is not None else []}


class ReconstructionStage(RealPoolsStage):
    """Teacher B: scattered real patch -> the real patch."""

    cfg: ReconstructionConfig

    def __init__(self, name: str, cfg: ReconstructionConfig, root: str | None = None) -> None:
        super().__init__(name, cfg)
        require(cfg.arch, "derain", features=True, who=self.name)
        self.module = Restoration(create_model(cfg.arch), cfg.ssim_weight, features=True)
        self.open_pools(root, compose(random_crop(cfg.patch), random_flip(), scatter(cfg.scatter)),
                        compose(random_crop(2 * cfg.patch), scatter(cfg.scatter)))

    def batch(self, step: int, rank: int, world: int) -> list[torch.Tensor]:
        return self.sampler.batch(step, rank, world)[0]

    def validate(self, device: torch.device) -> dict[str, float]:
        metrics = {}
        for label, (degraded, target) in self.val.items():
            degraded, target = degraded.to(device), target.to(device)
            metrics[f"val_psnr_{label}"] = batch_psnr(self.module.net(degraded), target)
            metrics[f"val_psnr_{label}_input"] = batch_psnr(degraded, target)
        return metrics
