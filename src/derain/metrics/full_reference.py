"""PSNR and SSIM as the deraining literature reports them (8-bit images, MATLAB conventions).

* Inputs are quantised to 8 bit first (`to_uint8`), so a float output scores exactly like the PNG
  it would be saved as.
* channel "y": MATLAB `rgb2ycbcr` luma of the 8-bit image, rounded to integers (what MATLAB does
  for uint8 input, hence what the MPRNet/Restormer evaluation scripts measure); "rgb": all three
  channels (PSNR over all values, SSIM averaged over channels); "gray": MATLAB `rgb2gray`, the
  convention of the calibration table (`python -m derain.metrics.calibrate`).
* SSIM (Wang et al. 2004, `ssim_index.m`): 11x11 Gaussian window, sigma 1.5, K1 = 0.01,
  K2 = 0.03, L = 255, population (co)variances, averaged over the 'valid' region only (the
  pixels whose whole window lies inside the image). That is exactly what scikit-image computes
  with `gaussian_weights=True, use_sample_covariance=False` (it filters with padding, then crops
  the (11 - 1) / 2 = 5 pixel border where the padding leaked in). No automatic downsampling
  (the later `ssim.m` shrinks images larger than 256 px; deraining tables do not) and no image
  border is cropped.
"""

from __future__ import annotations

import numpy as np

from derain.errors import DerainError
from derain.metrics.color import Channel, metric_planes, to_uint8
from derain.metrics.filters import gaussian_filter

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _pair(pred: np.ndarray, target: np.ndarray, channel: Channel) -> tuple[np.ndarray, np.ndarray]:
    a, b = to_uint8(pred, "prediction"), to_uint8(target, "target")
    if a.shape != b.shape:
        raise DerainError(f"prediction {a.shape[:2]} and target {b.shape[:2]} differ in size")
    return metric_planes(a, channel), metric_planes(b, channel)


def psnr(pred: np.ndarray, target: np.ndarray, channel: Channel = "y") -> float:
    """Peak signal-to-noise ratio in dB of two RGB images (uint8, or float in [0, 1]); inf if equal."""
    a, b = _pair(pred, target, channel)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def ssim_plane(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of two float64 (H, W) planes over the 'valid' region."""
    if min(a.shape) < SSIM_WINDOW:
        raise DerainError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, "
                          f"got {a.shape[1]}x{a.shape[0]}")
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_a, mu_b, aa, bb, ab = (gaussian_filter(p, SSIM_WINDOW, SSIM_SIGMA, "valid") for p in (a, b, a * a, b * b, a * b))
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def ssim(pred: np.ndarray, target: np.ndarray, channel: Channel = "y") -> float:
    """Structural similarity of two RGB images (uint8, or float in [0, 1]); mean over channels for rgb."""
    a, b = _pair(pred, target, channel)
    return float(np.mean([ssim_plane(a[..., c], b[..., c]) for c in range(a.shape[2])]))


DARK_LEVELS = 10.0  # Y levels (8-bit) of local brightness lost that count as a dark patch
DARK_SCALE = 25  # local brightness: a Gaussian of sigma = the shorter side / this (a patch, not a streak)


def darkened(output: np.ndarray, given: np.ndarray) -> float:
    """Share of the picture (0-1) whose local brightness the derainer lowered by more than
    DARK_LEVELS levels of Y against its input `given`: a proxy for dark blotches on skies and
    hills. Removing streaks lowers a local mean only by the light they added, a few levels in
    all but the densest rain; darkening a veil or a scene's tone lowers it far more."""
    from scipy import ndimage

    a, b = _pair(output, given, "y")
    sigma = max(2.0, min(a.shape[:2]) / DARK_SCALE)
    drop = ndimage.gaussian_filter(b[..., 0], sigma) - ndimage.gaussian_filter(a[..., 0], sigma)
    return float(np.mean(drop > DARK_LEVELS))
