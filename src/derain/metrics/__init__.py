"""Image-quality metrics: PSNR/SSIM against a reference, NIQE/BRISQUE without one.

    >>> from derain.metrics import psnr, ssim, niqe, brisque
    >>> psnr(output, clean)            # dB on the Y channel of the 8-bit images
    >>> ssim(output, clean, channel="rgb")
    >>> niqe(real_output)              # lower is better; fully offline
    >>> brisque(real_output)           # needs `derain setup-metrics` once
    >>> darkened(output, rainy_input)  # share of the picture made locally darker: dark blotches

Images are RGB numpy arrays (H, W, 3), uint8 or float in [0, 1]; floats are rounded to 8 bit
first. `ssim_torch` is the differentiable SSIM for losses; it is imported on first use so that
the numpy metrics (and `derain setup-metrics`) do not load torch.
"""

from __future__ import annotations

from typing import Any

from derain.metrics.brisque_score import brisque
from derain.metrics.color import rgb_to_gray, rgb_to_y
from derain.metrics.full_reference import darkened, psnr, ssim
from derain.metrics.niqe_score import niqe

__all__ = ["rgb_to_y", "rgb_to_gray", "psnr", "ssim", "darkened", "ssim_torch", "niqe", "brisque"]


def __getattr__(name: str) -> Any:
    if name == "ssim_torch":
        from derain.metrics.torch_ssim import ssim_torch

        return ssim_torch
    raise AttributeError(f"module 'derain.metrics' has no attribute {name!r}")
