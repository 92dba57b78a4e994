"""Deterministic, seeded selections of images by name: training fractions and held-out splits.

Both sort the names first, so the choice depends only on the file names and the seed (not on the
file system's listing order), and both are recorded in the run directory by the trainer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from derain.errors import DerainError


def _order(names: Sequence[str], seed: int) -> list[int]:
    """Positions of `names` in a seeded permutation of their sorted order."""
    by_name = sorted(range(len(names)), key=lambda i: names[i])
    return [by_name[j] for j in np.random.default_rng(seed).permutation(len(names))]


def check_fraction(fraction: float) -> float:
    if not 0.0 < fraction <= 1.0:
        raise DerainError(f"fraction must be in (0, 1], got {fraction}")
    return float(fraction)


def fraction_subset(names: Sequence[str], fraction: float, seed: int) -> list[int]:
    """Positions of a seeded `fraction` of the images: round(f * N), at least one, in name order."""
    check_fraction(fraction)
    if not names:
        raise DerainError("cannot take a fraction of an empty set")
    count = max(1, round(fraction * len(names)))
    return sorted(_order(names, seed)[:count], key=lambda i: names[i])


def holdout_split(names: Sequence[str], holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, held-out) positions; `holdout` of the images (at least one) are never trained on."""
    if not 0.0 < holdout < 1.0:
        raise DerainError(f"held-out share must be in (0, 1), got {holdout}")
    if len(names) < 2:
        raise DerainError(f"need at least 2 images to hold some out, got {len(names)}")
    order = _order(names, seed)
    count = min(len(names) - 1, max(1, round(holdout * len(names))))
    key = lambda i: names[i]  # noqa: E731
    return sorted(order[count:], key=key), sorted(order[:count], key=key)
