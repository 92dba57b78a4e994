"""Distances between two sets of per-image statistics (rows = images, columns = statistics).

All of them work on statistics already divided by a common scale (the standard deviation of each
statistic over every image of the study), so that one unit means the same in every pair and
statistics with large units do not dominate:

* `wasserstein`: 1-D earth mover's distance per statistic (in standard deviations);
* `frechet`: Frechet distance between Gaussian fits (the FID formula on our statistics);
* `mmd2`: unbiased squared maximum mean discrepancy with a Gaussian kernel;
* `domain_accuracy`: how well a logistic regression tells the two sets apart, k-fold
  cross-validated on class-balanced data (0.5 = indistinguishable), with a Wilson 95% interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize, special, stats


def wasserstein(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-column 1-D Wasserstein-1 distance between the rows of `a` and of `b`."""
    return np.array([stats.wasserstein_distance(a[:, j], b[:, j]) for j in range(a.shape[1])])


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(max(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root), 0.0))


def mmd2(a: np.ndarray, b: np.ndarray, bandwidth: float) -> float:
    """Unbiased MMD^2 with the kernel exp(-|x - y|^2 / (2 bandwidth^2))."""

    def kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        sq = (x**2).sum(1)[:, None] + (y**2).sum(1)[None, :] - 2 * x @ y.T
        return np.exp(-np.maximum(sq, 0) / (2 * bandwidth**2))

    m, n = len(a), len(b)
    k_aa, k_bb = kernel(a, a), kernel(b, b)
    within_a = (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1))
    within_b = (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
    return float(within_a + within_b - 2 * kernel(a, b).mean())


def median_bandwidth(x: np.ndarray, max_rows: int = 1000, seed: int = 0) -> float:
    """Median pairwise distance (the usual MMD bandwidth heuristic), on at most `max_rows` rows."""
    if len(x) > max_rows:
        x = x[np.random.default_rng(seed).choice(len(x), max_rows, replace=False)]
    sq = (x**2).sum(1)[:, None] + (x**2).sum(1)[None, :] - 2 * x @ x.T
    dist = np.sqrt(np.maximum(sq[np.triu_indices(len(x), 1)], 0))
    return float(np.median(dist)) or 1.0


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """L2-regularised logistic regression (weights, then bias), fitted with L-BFGS."""
    design = np.hstack([x, np.ones((len(x), 1))])
    sign = 2 * y - 1

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        margin = sign * (design @ w)
        grad = -design.T @ (sign * special.expit(-margin))
        return float(np.logaddexp(0, -margin).sum() + 0.5 * l2 * (w[:-1] ** 2).sum()), grad + l2 * np.append(w[:-1], 0)

    return optimize.minimize(loss, np.zeros(design.shape[1]), jac=True, method="L-BFGS-B").x


@dataclass
class DomainAccuracy:
    """Held-out accuracy of the set-vs-set classifier and its Wilson 95% interval."""

    accuracy: float
    low: float
    high: float
    n: int  # images classified (half from each set)


def domain_accuracy(a: np.ndarray, b: np.ndarray, folds: int = 5, seed: int = 0) -> DomainAccuracy | None:
    """k-fold cross-validated accuracy of logistic regression separating `a` from `b`.

    The larger set is subsampled (seeded) to the size of the smaller, so chance is exactly 0.5;
    folds are stratified; features are standardised on each training fold only. None when the
    smaller set has fewer images than folds.
    """
    rng = np.random.default_rng(seed)
    m = min(len(a), len(b))
    if m < folds:
        return None
    a, b = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
    x, y = np.vstack([a, b]), np.repeat([0, 1], m)
    fold = np.concatenate([rng.permutation(np.arange(m) % folds), rng.permutation(np.arange(m) % folds)])
    correct = 0
    for k in range(folds):
        train, test = fold != k, fold == k
        mu, sd = x[train].mean(0), x[train].std(0) + 1e-12
        w = fit_logistic((x[train] - mu) / sd, y[train])
        pred = ((x[test] - mu) / sd) @ w[:-1] + w[-1] > 0
        correct += int((pred == y[test]).sum())
    low, high = wilson_interval(correct, 2 * m)
    return DomainAccuracy(correct / (2 * m), low, high, 2 * m)
