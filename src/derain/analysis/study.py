"""The study: statistics of every image of every set, then distances between every pair of sets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from derain.analysis.distances import DomainAccuracy, domain_accuracy, frechet, median_bandwidth, mmd2, wasserstein
from derain.analysis.sets import ImageSet, iter_working_images
from derain.analysis.stats import RAIN_LAYER, STATISTICS, image_statistics
from derain.errors import DerainError

STAT_NAMES = list(STATISTICS)
RAIN_MASK = np.array([k in RAIN_LAYER for k in STAT_NAMES])  # columns of the rain-layer statistics


@dataclass
class SetResult:
    """Per-image statistics of one set (rows follow `files`)."""

    image_set: ImageSet
    listed: int  # image files considered (after --max-per-set)
    files: list[str]
    values: np.ndarray  # (images, statistics), columns in STAT_NAMES order
    orientation: np.ndarray  # (images, ORIENTATION_BINS)

    @property
    def name(self) -> str:
        return self.image_set.name


@dataclass
class PairDistance:
    """Distances between two sets, statistics in units of `Study.scale`."""

    wasserstein: np.ndarray  # per statistic
    frechet: float
    mmd2: float
    domain: DomainAccuracy | None

    @property
    def wasserstein_mean(self) -> float:
        return float(self.wasserstein.mean())

    @property
    def wasserstein_rain(self) -> float:
        """Mean over the rain-layer statistics only."""
        return float(self.wasserstein[RAIN_MASK].mean())

    @property
    def wasserstein_picture(self) -> float:
        """Mean over the whole-picture statistics (veil, colour, noise, blur)."""
        return float(self.wasserstein[~RAIN_MASK].mean())


@dataclass
class Study:
    """Everything the report shows: per-set results and every pairwise distance."""

    sets: list[SetResult]
    scale: np.ndarray  # std of each statistic over every image of the study
    bandwidth: float  # MMD kernel bandwidth, in scaled units
    pairs: dict[tuple[str, str], PairDistance]
    size: int
    seed: int
    folds: int

    def pair(self, a: str, b: str) -> PairDistance:
        """Distances between sets `a` and `b`, in either order."""
        return self.pairs[(a, b)] if (a, b) in self.pairs else self.pairs[(b, a)]


def measure_set(image_set: ImageSet, paths: list[Path], size: int, seed: int,
                progress: Callable[[int], None] | None = None) -> SetResult:
    """Statistics of the readable images among `paths`; none readable is a `DerainError`."""
    files, rows, hists = [], [], []
    for path, image in iter_working_images(image_set, paths, size, seed):
        stats, hist = image_statistics(image)
        files.append(path.name)
        rows.append([stats[k] for k in STAT_NAMES])
        hists.append(hist)
        if progress:
            progress(1)
    if not rows:
        raise DerainError(f"set {image_set.name!r}: none of the {len(paths)} images in {image_set.folder} could be "
                          f"analysed (unreadable or smaller than {size} px)")
    return SetResult(image_set, len(paths), files, np.array(rows), np.array(hists))


def compare_sets(results: list[SetResult], size: int, seed: int, folds: int) -> Study:
    """Every pairwise distance, with statistics scaled by their spread over the whole study."""
    pooled = np.vstack([r.values for r in results])
    scale = pooled.std(axis=0)
    scale[scale == 0] = 1.0
    scaled = {r.name: r.values / scale for r in results}
    bandwidth = median_bandwidth(pooled / scale, seed=seed)
    pairs = {}
    for a, b in combinations([r.name for r in results], 2):
        x, y = scaled[a], scaled[b]
        enough = min(len(x), len(y)) >= 2
        pairs[(a, b)] = PairDistance(
            wasserstein(x, y),
            frechet(x, y) if enough else float("nan"),
            mmd2(x, y, bandwidth) if enough else float("nan"),
            domain_accuracy(x, y, folds, seed),
        )
    return Study(results, scale, bandwidth, pairs, size, seed, folds)
