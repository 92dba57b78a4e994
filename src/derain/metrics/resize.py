"""MATLAB `imresize` (bicubic, antialiased) for the second scale of NIQE and BRISQUE.

Both official implementations halve the image with MATLAB's `imresize(im, 0.5)`, whose
antialiasing kernel differs from every Python library's resampler; a different resampler
changes the scores by up to several units. Each axis is resampled by a dense (out x in) weight
matrix built the way MATLAB builds it (widened Keys cubic, a = -0.5, mirrored borders), so the
whole resize is two matrix products, in float64 like MATLAB.
"""

from __future__ import annotations

import functools
import math

import numpy as np


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


@functools.cache
def _weights(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """(out_len, in_len) matrix M with resized = M @ signal, as MATLAB's contributions()."""
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)  # 1-based input coordinate
    left = np.floor(u - width / 2)
    taps = left[:, None] + np.arange(math.ceil(width) + 2)[None, :]
    dist = u[:, None] - taps
    w = scale * _cubic(dist * scale) if scale < 1 else _cubic(dist)
    w /= w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])  # MATLAB's symmetric padding
    cols = mirror[(taps.astype(np.int64) - 1) % (2 * in_len)]
    matrix = np.zeros((out_len, in_len))
    np.add.at(matrix, (np.repeat(np.arange(out_len), taps.shape[1]), cols.ravel()), w.ravel())
    matrix.setflags(write=False)
    return matrix


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """Resize a float (H, W) plane by `scale` like MATLAB `imresize(img, scale)` (bicubic)."""
    h, w = img.shape
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    return _weights(h, out_h, scale) @ img @ _weights(w, out_w, scale).T
