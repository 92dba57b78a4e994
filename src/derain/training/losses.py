"""Losses: L1 + (1 - SSIM) for restoration, and adapter-based feature distillation.

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


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image RGB PSNR (dB) of float batches in [0, 1]: the validation score during training."""
    mse = (pred.clamp(0, 1) - target).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return float((-10.0 * torch.log10(mse)).mean())
