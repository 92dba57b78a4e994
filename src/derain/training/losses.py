"""Losses: L1 + (1 - SSIM) for restoration (the objective of teacher B, fine-tuning and the
supervised baseline), and adapter-based feature distillation.

Feature distillation compares, at each of the three scales, a 1x1 adapter of the student's
feature map with the teacher's map divided by its own root-mean-square (per sample). The
normalisation makes every scale and every teacher weigh about the same whatever their
activation magnitudes, and the adapters let a 32-channel student map match a 96-channel teacher
map without constraining the student's own channel count. Adapters exist only during training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from derain.metrics import ssim_torch


def restoration_loss(pred: torch.Tensor, target: torch.Tensor,
                     ssim_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L1 + ssim_weight * (1 - SSIM) of (B, 3, H, W) tensors in [0, 1]; returns the total and its parts."""
    l1 = F.l1_loss(pred, target)
    dssim = 1.0 - ssim_torch(pred, target)
    return l1 + ssim_weight * dssim, {"l1": l1, "dssim": dssim}


class Restoration(nn.Module):
    """A derainer with its objective: L1 + (1 - SSIM) to the clean image, plus an optional anchor.

    The anchor (a frozen copy of the starting network) pulls the features toward where they
    started, so fine-tuning keeps what distillation learnt from real photos. The output is left
    unclamped, so the loss keeps its gradient at 0 and 1.
    """

    def __init__(self, net: nn.Module, ssim_weight: float, features: bool, anchor: nn.Module | None = None,
                 anchor_weight: float = 0.0) -> None:
        super().__init__()
        self.net, self.ssim_weight, self.features, self.anchor_weight = net, ssim_weight, features, anchor_weight
        self.anchor = anchor.requires_grad_(False).eval() if anchor is not None else None

    def forward(self, rainy: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out, feats = self.net.forward_features(rainy) if self.features else (self.net(rainy), None)
        loss, parts = restoration_loss(out, clean, self.ssim_weight)
        if self.anchor is not None:
            with torch.no_grad():
                reference = self.anchor.forward_features(rainy)[1]
            parts["anchor"] = feature_drift(feats, reference)
            loss = loss + self.anchor_weight * parts["anchor"]
        return loss, parts

    def train(self, mode: bool = True) -> Restoration:
        super().train(mode)
        if self.anchor is not None:
            self.anchor.eval()
        return self


class Adapters(nn.Module):
    """One 1x1 convolution per scale, from the student's widths to a teacher's."""

    def __init__(self, student_widths: Sequence[int], teacher_widths: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(s, t, 1) for s, t in zip(student_widths, teacher_widths, strict=True))

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [conv(f) for conv, f in zip(self.convs, feats, strict=True)]


def normalised_l2(pred: Sequence[torch.Tensor], target: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over scales of MSE(pred, target / RMS(target)), the RMS taken per sample."""
    losses = []
    for p, t in zip(pred, target, strict=True):
        t = t.detach()
        rms = t.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-6)
        losses.append(F.mse_loss(p, t / rms))
    return torch.stack(losses).mean()


def feature_drift(feats: Sequence[torch.Tensor], reference: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over scales of MSE(feats, reference) / MS(reference): how far features moved, scale-free.

    Unlike `normalised_l2` (which targets unit-RMS teacher maps through adapters), both sides are
    the same network's maps here, so they are compared as they are, relative to their size.
    """
    losses = [F.mse_loss(f, r.detach()) / r.detach().pow(2).mean().clamp_min(1e-12)
              for f, r in zip(feats, reference, strict=True)]
    return torch.stack(losses).mean()


def batch_psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image RGB PSNR (dB) of float batches in [0, 1]: the validation score during training."""
    mse = (pred.clamp(0, 1) - target).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return float((-10.0 * torch.log10(mse)).mean())
