"""The Gaussian window shared by SSIM (11x11, sigma 1.5) and NIQE/BRISQUE (7x7, sigma 7/6).

MATLAB's `fspecial('gaussian', n, sigma)` is the normalised outer product of one sampled 1-D
Gaussian, so filtering separably with the 1-D window gives the same result with 2n instead of n^2
multiplications per pixel.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from scipy import ndimage

Border = Literal["valid", "replicate", "zero"]
_SCIPY_MODE = {"replicate": "nearest", "zero": "constant", "valid": "constant"}


@functools.cache
def gaussian_window(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D sampled Gaussian of odd length `size` (float64, read-only)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    w = np.exp(-(x**2) / (2.0 * sigma**2))
    w /= w.sum()
    w.setflags(write=False)
    return w


def gaussian_filter(img: np.ndarray, size: int, sigma: float, border: Border) -> np.ndarray:
    """Filter the first two axes of `img` with the 2-D Gaussian window.

    `border`: "valid" keeps only pixels whose window lies inside the image (output shrinks by
    size - 1), as MATLAB `filter2(..., 'valid')`; "replicate" and "zero" keep the size, as
    `imfilter(..., 'replicate')` and `filter2(..., 'same')`.
    """
    w = gaussian_window(size, sigma)
    out = img
    for axis in (0, 1):
        out = ndimage.correlate1d(out, w, axis=axis, mode=_SCIPY_MODE[border], cval=0.0)
    if border == "valid":
        r = size // 2
        out = out[r : out.shape[0] - r, r : out.shape[1] - r]
    return out
