"""The rain-scattering degradation of connected task B (docs/METHOD.md section 3).

`D = t * (k * I) + (1 - t) * A + n`: the scene `I` blurred by a kernel `k` (Gaussian, or a disk for
defocus), attenuated by a transmission map `t`, veiled by airlight `A` (`derain.formation.veil`),
plus Gaussian noise `n`.
`t` and `A` vary smoothly across the patch (bilinear upsampling of a coarse random grid), because
a rain veil thickens with depth and is brighter toward the sky.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from derain.data.patches import Transform
from derain.formation import veil


@dataclass
class ScatterConfig:
    """Ranges every degradation parameter is drawn from (uniformly)."""

    blur_sigma: tuple[float, float] = (0.3, 2.5)  # Gaussian kernel sigma, px
    defocus_prob: float = 0.3  # chance of a disk (defocus) kernel instead
    defocus_radius: tuple[float, float] = (1.0, 3.5)  # disk radius, px
    transmission: tuple[float, float] = (0.55, 0.95)
    airlight: tuple[float, float] = (0.6, 1.0)
    airlight_tint: float = 0.05  # per-channel deviation of the airlight colour
    grid: int = 3  # coarse grid size of the smooth t and A fields
    noise: tuple[float, float] = (0.0, 0.02)  # Gaussian noise sigma, in [0, 1] units


def _smooth_field(rng: np.random.Generator, low: float, high: float, grid: int, h: int, w: int) -> np.ndarray:
    """A (H, W) field in [low, high] varying smoothly: a `grid` x `grid` random grid, upsampled
    (torch imported here, not above, so that `derain.data` loads without it, see patches.py)."""
    import torch

    coarse = torch.from_numpy(rng.uniform(low, high, (1, 1, grid, grid)).astype(np.float32))
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)[0, 0].numpy()


def _disk(radius: float) -> np.ndarray:
    """Normalised defocus kernel: a disk of `radius` px, anti-aliased by 4x supersampling."""
    r = int(np.ceil(radius))
    fine = (np.arange(-r * 4 - 2, r * 4 + 2) + 0.5) / 4
    yy, xx = np.meshgrid(fine, fine, indexing="ij")
    inside = (yy**2 + xx**2 <= radius**2).astype(np.float64)
    kernel = inside.reshape(2 * r + 1, 4, 2 * r + 1, 4).sum(axis=(1, 3))
    return kernel / kernel.sum()


def blur(img: np.ndarray, rng: np.random.Generator, cfg: ScatterConfig) -> np.ndarray:
    """`k * I` with a random Gaussian or defocus kernel (reflect borders)."""
    if rng.random() < cfg.defocus_prob:
        kernel = _disk(float(rng.uniform(*cfg.defocus_radius)))
        return np.stack([ndimage.convolve(img[..., c], kernel, mode="reflect") for c in range(3)], axis=2)
    return ndimage.gaussian_filter(img, sigma=(float(rng.uniform(*cfg.blur_sigma)),) * 2 + (0,), mode="reflect")


def degrade(img: np.ndarray, rng: np.random.Generator, cfg: ScatterConfig) -> np.ndarray:
    """The scattered observation D of a clean-or-real (H, W, 3) image in [0, 1]."""
    h, w = img.shape[:2]
    t = _smooth_field(rng, *cfg.transmission, cfg.grid, h, w)[..., None]
    base = float(rng.uniform(*cfg.airlight))
    airlight = np.stack([_smooth_field(rng, base - cfg.airlight_tint, base + cfg.airlight_tint, cfg.grid, h, w)
                         for _ in range(3)], axis=2)
    noise = rng.normal(0.0, float(rng.uniform(*cfg.noise)), img.shape)
    out = veil(blur(img, rng, cfg), t, airlight) + noise
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def scatter(cfg: ScatterConfig, prob: float = 1.0) -> Transform:
    """`[I] -> [D, I]`: degrade with probability `prob`, else pass `I` through as its own input."""

    def apply(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        img = np.ascontiguousarray(arrays[0], dtype=np.float32)
        return [degrade(img, rng, cfg) if rng.random() < prob else img, img]

    return apply
