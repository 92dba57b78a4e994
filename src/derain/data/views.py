"""Training views of datasets: which images of a sample to use, which samples, held in memory.

A `View` turns a dataset into a sequence of tuples of arrays, e.g. `("rainy", "clean")` for pairs
or `("clean",)` for the rain-free halves of Rain800. Views over several sets are concatenated with
`Concat`, and restricted to a split or a fraction with `View.subset`. Decoded images are kept as
uint8 (exact for the 8-bit files every training pool holds) within a byte budget, because
re-decoding large JPEGs every step costs as much as the training step itself on a CPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from derain.data.catalog import open_training_dataset
from derain.data.folders import FolderDataset
from derain.errors import DerainError

DEFAULT_CACHE_BYTES = 2 << 30
ROLES = ("rainy", "clean")


class View:
    """Tuples of arrays (float32 HxWx3 in [0, 1]) from chosen samples and roles of a dataset."""

    def __init__(self, dataset: FolderDataset, roles: Sequence[str] = ("rainy",), indices: Sequence[int] | None = None,
                 cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if "clean" in roles and not dataset.paired:
            raise DerainError(f"{dataset!r} has no clean images; it cannot provide role 'clean'")
        self.dataset, self.roles = dataset, tuple(roles)
        self.indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
        self.cache_bytes = cache_bytes
        self._cache: dict[int, tuple[np.ndarray, ...]] = {}
        self._cached = 0

    @property
    def names(self) -> list[str]:
        return [self.dataset.names[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[np.ndarray, ...]:
        index = self.indices[i]
        if index in self._cache:
            return tuple(a.astype(np.float32) / 255.0 for a in self._cache[index])
        sample = self.dataset[index]
        arrays = tuple(getattr(sample, role) for role in self.roles)
        size = sum(a.size for a in arrays)
        if self._cached + size <= self.cache_bytes:
            self._cache[index] = tuple(np.round(a * 255.0).astype(np.uint8) for a in arrays)
            self._cached += size
        return arrays

    def subset(self, positions: Sequence[int]) -> View:
        """The view restricted to `positions` (indices into this view), sharing nothing mutable."""
        return View(self.dataset, self.roles, [self.indices[p] for p in positions], self.cache_bytes)


class Concat:
    """Several views one after another; names are prefixed by the view's label to stay unique."""

    def __init__(self, views: dict[str, View]) -> None:
        if not views:
            raise DerainError("no training images: the pool is empty")
        self.views = views
        self.offsets = np.cumsum([0] + [len(v) for v in views.values()])

    @property
    def names(self) -> list[str]:
        return [f"{label}/{n}" for label, v in self.views.items() for n in v.names]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> tuple[np.ndarray, ...]:
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return list(self.views.values())[k][i - int(self.offsets[k])]

    def subset(self, positions: Sequence[int]) -> Concat:
        """The concatenation restricted to `positions`, view by view (empty views dropped)."""
        chosen = sorted(positions)
        parts = {}
        for k, (label, view) in enumerate(self.views.items()):
            lo, hi = int(self.offsets[k]), int(self.offsets[k + 1])
            local = [p - lo for p in chosen if lo <= p < hi]
            if local:
                parts[label] = view.subset(local)
        return Concat(parts)

    def source(self, i: int) -> str:
        """Label of the view image `i` comes from (e.g. to attach a class label)."""
        return list(self.views)[int(np.searchsorted(self.offsets, i, side="right")) - 1]


def open_view(spec: str, root: str | os.PathLike[str] | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES) -> View:
    """A training pool from `NAME` or `NAME:ROLE` (`rain800_train:clean` = the clean halves).

    NAME is a catalogue name or a folder; evaluation-only sets are refused. Without a role, a
    paired set gives `(rainy, clean)` pairs and an unpaired one its images.
    """
    name, colon, role = spec.rpartition(":")
    if not colon or role not in ROLES:
        name, role = spec, ""
    dataset = open_training_dataset(name, root)
    roles = (role,) if role else (("rainy", "clean") if dataset.paired else ("rainy",))
    return View(dataset, roles, cache_bytes=cache_bytes)
