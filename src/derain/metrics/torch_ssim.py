"""Differentiable SSIM for training losses (e.g. L1 + (1 - SSIM) when fine-tuning).

Same definition as the evaluation SSIM (`derain.metrics.full_reference`): the same 11x11 Gaussian
window (sigma 1.5, shared code), K1 = 0.01, K2 = 0.03, population statistics, mean over the
'valid' region. It works on float tensors as they are (no 8-bit quantisation, which would stop
the gradient), so on 8-bit-valued inputs it equals the evaluation SSIM of those channels.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from derain.errors import DerainError
from derain.metrics.filters import gaussian_window
from derain.metrics.full_reference import SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_WINDOW


def _blur_valid(t: torch.Tensor) -> torch.Tensor:
    """Depthwise separable Gaussian filtering of (B, C, H, W), 'valid' region only."""
    w = torch.tensor(gaussian_window(SSIM_WINDOW, SSIM_SIGMA), dtype=t.dtype, device=t.device)
    c = t.shape[1]
    t = F.conv2d(t, w.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(t, w.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim_torch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM over batch, channels and pixels of two (B, C, H, W) tensors in [0, data_range]."""
    if x.shape != y.shape or x.ndim != 4:
        raise DerainError("ssim_torch expects two (B, C, H, W) tensors of one shape, "
                          f"got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise DerainError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, "
                          f"got {tuple(x.shape[-2:])}")
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_x, mu_y, xx, yy, xy = _blur_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1)).chunk(5, dim=1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean()
