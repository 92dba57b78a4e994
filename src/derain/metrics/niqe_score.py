"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan, Bovik 2013); lower is better.

Follows the authors' MATLAB release (`niqe_release`, `computequality.m`) and its pristine model
(`data/niqe_pris_params.npz`, from BasicSR 1.4.2, see `data/NOTICE`): the luma is cut into 96x96
blocks (the image is cropped to whole blocks), 18 NSS features per block are computed on the
MSCN coefficients (replicate border) at full and half resolution (MATLAB bicubic `imresize`),
a Gaussian is fitted to the 36-dimensional block features, and the score is the distance
sqrt((mu_p - mu_d)^T ((S_p + S_d) / 2)^+ (mu_p - mu_d)) to the pristine Gaussian.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from scipy.special import gamma as gamma_fn

from derain.errors import DerainError
from derain.metrics.color import Channel, metric_planes, to_uint8
from derain.metrics.nss import HORIZONTAL, MAIN_DIAGONAL, VERTICAL, aggd_fit, mscn, neighbour_products
from derain.metrics.resize import imresize

PARAMS_FILE = Path(__file__).resolve().parent / "data" / "niqe_pris_params.npz"
BLOCK = 96
SHIFTS = (HORIZONTAL, VERTICAL, MAIN_DIAGONAL, (1, -1))  # computefeature.m: [0 1; 1 0; 1 1; 1 -1]


@functools.cache
def _pristine() -> tuple[np.ndarray, np.ndarray]:
    with np.load(PARAMS_FILE) as params:
        return params["mu_pris_param"].ravel(), params["cov_pris_param"]


def _to_blocks(plane: np.ndarray, size: int) -> np.ndarray:
    """(H, W) -> (n, size, size) non-overlapping blocks; H and W are multiples of `size`."""
    h, w = plane.shape
    return plane.reshape(h // size, size, w // size, size).swapaxes(1, 2).reshape(-1, size, size)


def _aggd_betas(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AGGD shape and left/right scale parameters (beta = std * sqrt(Gamma(1/a) / Gamma(3/a)))."""
    alpha, left, right = aggd_fit(x)
    k = np.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
    return alpha, left * k, right * k


def block_features(blocks: np.ndarray) -> np.ndarray:
    """The 18 NIQE features of each MSCN block (n, h, w) -> (n, 18)."""
    alpha, beta_l, beta_r = _aggd_betas(blocks.reshape(len(blocks), -1))
    feats = [alpha, (beta_l + beta_r) / 2]
    for shift in SHIFTS:
        alpha, beta_l, beta_r = _aggd_betas(neighbour_products(blocks, shift))
        feats += [alpha, (beta_r - beta_l) * gamma_fn(2 / alpha) / gamma_fn(1 / alpha), beta_l, beta_r]
    return np.stack(feats, axis=1)


def niqe(img: np.ndarray, channel: Channel = "gray") -> float:
    """NIQE of an RGB image (uint8, or float in [0, 1]; quantised to 8 bit first).

    channel: "gray" (MATLAB `rgb2gray`, what the official code uses and what reproduces the
    reference scores) or "y" (MATLAB `rgb2ycbcr` luma, BasicSR's default).
    """
    if channel not in ("gray", "y"):
        raise DerainError(f"NIQE is computed on one luma plane: channel must be 'gray' or 'y', not {channel!r}")
    plane = metric_planes(to_uint8(img), channel)[..., 0]
    rows, cols = plane.shape[0] // BLOCK, plane.shape[1] // BLOCK
    if rows * cols == 0:
        raise DerainError(f"NIQE needs an image of at least {BLOCK}x{BLOCK} pixels, "
                          f"got {plane.shape[1]}x{plane.shape[0]}")
    plane = plane[: rows * BLOCK, : cols * BLOCK]
    half = imresize(plane, 0.5)
    feats = np.concatenate([
        block_features(_to_blocks(mscn(plane, "replicate"), BLOCK)),
        block_features(_to_blocks(mscn(half, "replicate"), BLOCK // 2)),
    ], axis=1)
    mu_p, cov_p = _pristine()
    complete = feats[~np.isnan(feats).any(axis=1)]
    if len(complete) == 0:
        raise DerainError("NIQE is undefined for this image: no block has texture (flat image?)")
    # One block has no spread: its covariance is taken as zero (MATLAB's nancov would misread the row).
    cov_d = np.cov(complete, rowvar=False) if len(complete) > 1 else np.zeros_like(cov_p)
    diff = mu_p - np.nanmean(feats, axis=0)
    dist = diff @ np.linalg.pinv((cov_p + cov_d) / 2) @ diff
    return float(np.sqrt(dist))
