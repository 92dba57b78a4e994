"""Rain from rendered streak layers (Garg & Nayar 2006), recombined the way RainMix does.

The procedural streaks of `derain.synth.render` are straight, evenly lit lines. The Garg-Nayar
layers (`streaks/garg06` in the shared data: grey streaks on black, rendered with the photometric
model of falling, oscillating drops) carry the shapes and brightness profiles of real drops. Each
rain layer here blends one to three of them, each randomly cropped, rescaled, rotated, dimmed and
defocused, so a few hundred files give an unbounded variety of rain. The result is a rain layer
(H, W) in [0, 1] that `render.composite` lights and veils like any other.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from derain.errors import DerainError
from derain.io import list_images, read_rgb


@dataclass(frozen=True)
class StreakMix:
    """Ranges of the random recombination (RainMix-style); each draw is uniform in its range."""

    layers: tuple[int, int] = (1, 3)  # streak files blended per rain layer
    scale: tuple[float, float] = (0.5, 1.5)  # output px per source px (log-uniform)
    angle: tuple[float, float] = (-30.0, 30.0)  # rotation, degrees (the files fall near vertically)
    intensity: tuple[float, float] = (0.35, 1.0)  # gain on each file's brightness
    defocus: tuple[float, float] = (0.0, 1.2)  # Gaussian sigma, output px
    additive: float = 0.5  # chance that layers are summed (clipped) rather than screened


class StreakBank:
    """The streak files of one folder, decoded once as 8-bit grey (a few tens of MB)."""

    def __init__(self, folder: str | os.PathLike[str], mix: StreakMix = StreakMix()) -> None:
        files = list_images(Path(folder)) if Path(folder).is_dir() else []
        if not files:
            raise DerainError(f"{folder}: no streak images there (expected grey streaks on black, e.g. streaks/garg06)")
        self.names = [f.name for f in files]
        self.images = [_grey(f) for f in files]
        self.mix = mix

    def __len__(self) -> int:
        return len(self.images)

    def _one(self, index: int, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """One file, resampled onto an (H, W) grid by a random rotation, scale and offset."""
        mix, src = self.mix, self.images[index]
        scale = math.exp(rng.uniform(math.log(mix.scale[0]), math.log(mix.scale[1])))
        theta = math.radians(rng.uniform(*mix.angle))
        cos, sin = math.cos(theta) / scale, math.sin(theta) / scale
        matrix = np.array([[cos, -sin], [sin, cos]])  # output (row, col) offset -> source offset
        centre_out = (np.array(shape) - 1) / 2.0
        centre_src = np.array([rng.uniform(0, src.shape[0] - 1), rng.uniform(0, src.shape[1] - 1)])
        layer = ndimage.affine_transform(src, matrix, offset=centre_src - matrix @ centre_out, output_shape=shape,
                                         order=1, mode="grid-wrap", output=np.float32)
        sigma = rng.uniform(*mix.defocus)
        if sigma > 0.3:
            layer = ndimage.gaussian_filter(layer, sigma)
        return np.clip(layer * (rng.uniform(*mix.intensity) / 255.0), 0.0, 1.0)

    def layer(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """A rain layer (H, W) float32 in [0, 1]: one to three recombined files."""
        count = int(rng.integers(self.mix.layers[0], self.mix.layers[1] + 1))
        parts = [self._one(int(rng.integers(len(self))), shape, rng) for _ in range(count)]
        if rng.random() < self.mix.additive:
            return np.minimum(np.sum(parts, axis=0), 1.0).astype(np.float32)
        keep = np.ones(shape, np.float32)
        for part in parts:
            keep *= 1.0 - part
        return 1.0 - keep


def _grey(path: Path) -> np.ndarray:
    grey = read_rgb(path).mean(axis=2)
    return np.round(np.clip(grey, 0.0, 1.0) * 255.0).astype(np.uint8)
