"""Natural-scene statistics shared by NIQE and BRISQUE (Mittal et al. 2012, 2013).

Both metrics normalise the luma by a local Gaussian mean and deviation (MSCN coefficients) and
fit (asymmetric) generalised Gaussian distributions to the coefficients and to products of
neighbouring coefficients. The fits follow the authors' MATLAB code: moment matching against a
table of the shape parameter on 0.2:0.001:10, taking the first closest entry. Every fit here is
vectorised over rows, so NIQE fits all its 96x96 blocks at once.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import gamma as gamma_fn

from derain.metrics.filters import Border, gaussian_filter

MSCN_WINDOW = 7
MSCN_SIGMA = 7 / 6

# The four neighbour directions as (row, column) shifts of `np.roll`.
HORIZONTAL, VERTICAL, MAIN_DIAGONAL = (0, 1), (1, 0), (1, 1)


@functools.cache
def _shape_grid() -> np.ndarray:
    grid = np.arange(0.2, 10.001, 0.001)
    grid.setflags(write=False)
    return grid


@functools.cache
def _ggd_table() -> np.ndarray:
    """rho(alpha) = Gamma(1/a) Gamma(3/a) / Gamma(2/a)^2, the GGD moment ratio E[x^2] / E[|x|]^2."""
    a = _shape_grid()
    table = gamma_fn(1 / a) * gamma_fn(3 / a) / gamma_fn(2 / a) ** 2
    table.setflags(write=False)
    return table


def mscn(plane: np.ndarray, border: Border) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients (I - mu) / (sigma + 1) of a float plane."""
    mu = gaussian_filter(plane, MSCN_WINDOW, MSCN_SIGMA, border)
    var = gaussian_filter(plane * plane, MSCN_WINDOW, MSCN_SIGMA, border) - mu * mu
    return (plane - mu) / (np.sqrt(np.abs(var)) + 1)


def ggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shape alpha and standard deviation of a zero-mean GGD fitted to each row of `x` (n, m)."""
    sigma_sq = np.mean(x * x, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # flat input: NaN, reported by the caller
        rho = sigma_sq / np.mean(np.abs(x), axis=1) ** 2
    alpha = _shape_grid()[np.argmin(np.abs(rho[:, None] - _ggd_table()[None, :]), axis=1)]
    return alpha, np.sqrt(sigma_sq)


def aggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shape alpha and left/right standard deviations of an asymmetric GGD fitted to each row of `x`.

    A row without negative (or positive) values gives NaN, as in MATLAB; NIQE drops such blocks.
    """
    neg, pos = x < 0, x > 0
    with np.errstate(invalid="ignore", divide="ignore"):  # empty side: NaN, as in MATLAB
        left_std = np.sqrt(np.sum(x * x * neg, axis=1) / np.sum(neg, axis=1))
        right_std = np.sqrt(np.sum(x * x * pos, axis=1) / np.sum(pos, axis=1))
        ratio = left_std / right_std
        r_hat = np.mean(np.abs(x), axis=1) ** 2 / np.mean(x * x, axis=1)
        r_norm = r_hat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1) ** 2
    alpha = _shape_grid()[np.argmin((1 / _ggd_table()[None, :] - r_norm[:, None]) ** 2, axis=1)]
    return alpha, left_std, right_std


def neighbour_products(blocks: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Products of each coefficient with its circularly shifted neighbour, flattened per block.

    `blocks` is (n, h, w); the shift wraps inside each block, as MATLAB `circshift` on the block.
    """
    shifted = np.roll(blocks, shift, axis=(1, 2))
    return (blocks * shifted).reshape(len(blocks), -1)
