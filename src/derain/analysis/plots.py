"""The report's figures (matplotlib, Agg backend, small PNGs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from derain.analysis.stats import ORIENTATION_BINS  # noqa: E402
from derain.analysis.study import STAT_NAMES, PairDistance, Study  # noqa: E402

DPI = 80


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)


def plot_histograms(study: Study, path: Path, reference: str | None = None) -> None:
    """One panel per statistic, a normalised step histogram per set on shared bins.

    The reference set, if any, is drawn as a filled grey area so the others read against it.
    """
    cols = 4
    rows = -(-len(STAT_NAMES) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows))
    pooled = np.vstack([r.values for r in study.sets])
    for j, (name, ax) in enumerate(zip(STAT_NAMES, axes.flat)):
        low, high = np.percentile(pooled[:, j], [1, 99])
        bins = np.linspace(low, high if high > low else low + 1, 21)
        for r in study.sets:
            style = ({"histtype": "stepfilled", "color": "0.8"} if r.name == reference
                     else {"histtype": "step", "linewidth": 1.3})
            ax.hist(np.clip(r.values[:, j], bins[0], bins[-1]), bins=bins, density=True, label=r.name, **style)
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in list(axes.flat)[len(STAT_NAMES) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    _save(fig, path)


def plot_orientation(study: Study, path: Path) -> None:
    """Mean orientation histogram of each set (fraction of coherent residual energy per angle)."""
    centres = np.arange(ORIENTATION_BINS) * 180.0 / ORIENTATION_BINS
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for r in study.sets:
        ax.plot(centres, r.orientation.mean(axis=0), marker=".", label=r.name)
    ax.axhline(1.0 / ORIENTATION_BINS, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("streak angle from horizontal, degrees (90 = vertical)")
    ax.set_ylabel("share of energy")
    ax.set_xticks(range(0, 181, 30))
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_distance_matrices(study: Study, path: Path) -> None:
    """Heatmaps: mean standardised Wasserstein distance, Frechet distance, classifier accuracy."""
    names = [r.name for r in study.sets]
    n = len(names)

    def matrix(value: Callable[[PairDistance], float]) -> np.ndarray:
        out = np.full((n, n), np.nan)
        for i in range(n):
            for j in range(n):
                if i != j:
                    out[i, j] = value(study.pair(names[i], names[j]))
        return out

    panels = [
        ("mean Wasserstein (std units)", matrix(lambda p: p.wasserstein_mean)),
        ("Frechet distance", matrix(lambda p: p.frechet)),
        ("classifier accuracy", matrix(lambda p: p.domain.accuracy if p.domain else np.nan)),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.6))
    for ax, (title, mat) in zip(axes, panels):
        im = ax.imshow(mat, cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(n), names, fontsize=7)
        for i in range(n):
            for j in range(n):
                if i != j and np.isfinite(mat[i, j]):
                    light = mat[i, j] > np.nanmean(mat)  # viridis is light at the top
                    ax.text(j, i, f"{mat[i, j]:.2g}", ha="center", va="center", fontsize=6,
                            color="black" if light else "white")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)
    _save(fig, path)
