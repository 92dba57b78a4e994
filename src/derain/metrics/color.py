"""8-bit quantisation and the luma conversions that quality metrics are defined on.

Metrics are reported on 8-bit images, so every input is first brought to integers in [0, 255].
A luma plane is then rounded to integers again, as MATLAB does when `rgb2ycbcr` or `rgb2gray`
is applied to a `uint8` image; the reference scripts of the deraining literature (and the
official NIQE/BRISQUE code) all work on such integer planes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from derain.errors import DerainError

Channel = Literal["y", "gray", "rgb"]
CHANNELS: tuple[str, ...] = ("y", "gray", "rgb")

# MATLAB rgb2ycbcr (BT.601, studio swing) luma row, for RGB in [0, 1] -> Y in [16, 235].
_YCBCR_Y = np.array([65.481, 128.553, 24.966])
# MATLAB rgb2gray: the first row of the inverse of its YIQ matrix, i.e. 0.2989 R + 0.5870 G + 0.1140 B.
_GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def to_uint8(img: np.ndarray, name: str = "image") -> np.ndarray:
    """Return `img` as uint8 (H, W, 3); floats are taken as [0, 1] and rounded, never truncated."""
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DerainError(f"{name}: expected an RGB array of shape (H, W, 3), got {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.floating):
        raise DerainError(f"{name}: expected uint8 or float in [0, 1], got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise DerainError(f"{name}: contains NaN or infinite values")
    return np.clip(np.round(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def _unit_rgb(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    return arr / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """MATLAB `rgb2ycbcr` luma of (..., 3) RGB (float in [0, 1] or uint8), in [16, 235] (float64).

    Y = 16 + 65.481 R + 128.553 G + 24.966 B. Not rounded: `luma` rounds for 8-bit metrics.
    """
    return 16.0 + _unit_rgb(img) @ _YCBCR_Y


def rgb_to_gray(img: np.ndarray) -> np.ndarray:
    """MATLAB `rgb2gray` of (..., 3) RGB (float in [0, 1] or uint8), in [0, 255] (float64), not rounded."""
    return 255.0 * (_unit_rgb(img) @ _GRAY)


def metric_planes(img8: np.ndarray, channel: Channel) -> np.ndarray:
    """Planes a metric is computed on, float64 with integer values: (H, W, 1) for y/gray, (H, W, 3) for rgb."""
    if channel == "rgb":
        return img8.astype(np.float64)
    if channel == "y":
        return np.round(rgb_to_y(img8))[..., None]
    if channel == "gray":
        return np.round(rgb_to_gray(img8))[..., None]
    raise DerainError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
