"""Seeded random patches for training: the batch of step `s` depends only on (seed, s).

Nothing stateful is carried between steps, so a resumed run sees exactly the data it would have
seen, and a run split over several processes sees the same global batch as one process (each rank
takes every `world`-th item). Images are visited epoch by epoch in a seeded order; each item gets
its own generator, seeded by (seed, stream, step, slot), for its crop, flip and any stage augmentation.

A transform maps a list of arrays (e.g. `[rainy, clean]`) and a generator to a new list; the same
random choices are applied to every array of the list, so pairs stay aligned. Torch is imported
only where tensors are made, so that synthesis and `derain synth`/`demo --help`, which use `jpeg`
alone, start without it.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image

from derain.errors import DerainError

if TYPE_CHECKING:
    import torch

Transform = Callable[[list[np.ndarray], np.random.Generator], list[np.ndarray]]


class ArraySource(Protocol):
    """What the sampler draws from: `View`, `Concat`, or any sequence of array tuples."""

    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> tuple[np.ndarray, ...]: ...


def random_crop(size: int) -> Transform:
    """The same `size` x `size` window from every array (reflect-padded if an image is smaller)."""

    def crop(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        h, w = arrays[0].shape[:2]
        ph, pw = max(0, size - h), max(0, size - w)
        if ph or pw:
            arrays = [np.pad(a, ((0, ph), (0, pw), (0, 0)), mode="reflect" if ph < h and pw < w else "edge")
                      for a in arrays]
            h, w = h + ph, w + pw
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        return [a[top : top + size, left : left + size] for a in arrays]

    return crop


def random_flip(vertical: bool = False) -> Transform:
    """Mirror left-right with probability 1/2 (and upside down if `vertical`): rain stays rain."""

    def flip(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        if rng.random() < 0.5:
            arrays = [a[:, ::-1] for a in arrays]
        if vertical and rng.random() < 0.5:
            arrays = [a[::-1] for a in arrays]
        return arrays

    return flip


def resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """An (H, W, C) float image in [0, 1] resized to (h, w), antialiased when it shrinks."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
    out = torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return out[0].permute(1, 2, 0).clamp(0, 1).numpy()


def random_scaled_crop(size: int, low: float, high: float) -> Transform:
    """A `size` x `size` patch of a window `size / factor` px wide, factor drawn in [low, high].

    Equivalent to rescaling the whole image by `factor` and cropping (capped at the image's short
    side), at the cost of resizing one window: content scale and resolution stop being a cue.
    """

    def scaled_crop(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        h, w = arrays[0].shape[:2]
        window = min(h, w, max(1, round(size / float(rng.uniform(low, high)))))
        arrays = random_crop(window)(arrays, rng)
        return [resize(a, size, size) for a in arrays] if window != size else arrays

    return scaled_crop


def jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip one image through JPEG at `quality` (as 8-bit)."""
    buf = io.BytesIO()
    Image.fromarray(np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def random_jpeg(low: int, high: int) -> Transform:
    """Re-compress at a quality drawn in [low, high], so compression history is no cue."""

    def recompress(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        quality = int(rng.integers(low, high + 1))
        return [jpeg(a, quality) for a in arrays]

    return recompress


def compose(*transforms: Transform) -> Transform:
    """Apply transforms left to right with the same generator."""

    def run(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        for t in transforms:
            arrays = t(arrays, rng)
        return arrays

    return run


class PatchSampler:
    """Batches of transformed patches as (list of N x 3 x P x P tensors, dataset indices)."""

    def __init__(self, source: ArraySource, batch_size: int, transform: Transform, seed: int, stream: int = 0) -> None:
        if len(source) == 0:
            raise DerainError("no training images: the pool is empty")
        if batch_size < 1:
            raise DerainError(f"batch size must be >= 1, got {batch_size}")
        self.source, self.batch_size, self.transform = source, batch_size, transform
        self.seed = [seed, stream]  # `stream` separates samplers sharing a run seed (e.g. one per class)
        self._perms: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([*self.seed, epoch]).permutation(len(self.source))}
        return self._perms[epoch]

    def indices(self, step: int) -> list[int]:
        """Dataset indices of the global batch of `step` (epoch-wise seeded permutations)."""
        n = len(self.source)
        positions = range(step * self.batch_size, (step + 1) * self.batch_size)
        return [int(self._order(p // n)[p % n]) for p in positions]

    def batch(self, step: int, rank: int = 0, world: int = 1) -> tuple[list[torch.Tensor], list[int]]:
        """This rank's share (slots rank, rank + world, ...) of the global batch of `step`."""
        if self.batch_size % world:
            raise DerainError(f"batch size {self.batch_size} is not divisible by the {world} processes")
        items, chosen = [], []
        for slot, index in list(enumerate(self.indices(step)))[rank::world]:
            rng = np.random.default_rng([*self.seed, step, slot])
            items.append(self.transform(list(self.source[index]), rng))
            chosen.append(index)
        return stack(items), chosen


class MixedSampler:
    """Batches drawn from several (source, transform) components in set proportions.

    Every item is a pure function of (seed, step, slot): its generator picks the component by
    weight, an image uniformly (with replacement: with random rendering, epochs mean nothing) and
    then drives the transform. An image that fails to decode is skipped with a warning, counted in
    `skipped`, and another is drawn from the same generator, so a bad file hours into a run costs
    one warning, not the run.
    """

    def __init__(self, components: list[tuple[ArraySource, Transform, float]], batch_size: int, seed: int,
                 stream: int = 0) -> None:
        components = [c for c in components if c[2] > 0]
        if not components or any(len(source) == 0 for source, _, _ in components):
            raise DerainError("no training images: a pool of the mixture is empty")
        if batch_size < 1:
            raise DerainError(f"batch size must be >= 1, got {batch_size}")
        self.components, self.batch_size, self.seed = components, batch_size, [seed, stream]
        weights = np.array([w for _, _, w in components], dtype=np.float64)
        self.weights = weights / weights.sum()
        self.skipped: set[tuple[int, int]] = set()

    def _item(self, rng: np.random.Generator) -> list[np.ndarray]:
        for _ in range(100):
            k = int(rng.choice(len(self.components), p=self.weights))
            source, transform, _ = self.components[k]
            index = int(rng.integers(len(source)))
            try:
                arrays = list(source[index])
            except DerainError as exc:
                if (k, index) not in self.skipped:
                    self.skipped.add((k, index))
                    warnings.warn(f"skipping a training image ({exc}); {len(self.skipped)} skipped so far",
                                  stacklevel=2)
                continue
            return transform(arrays, rng)
        raise DerainError("no readable training image in 100 draws: check the data folders")

    def batch(self, step: int, rank: int = 0, world: int = 1) -> tuple[list[torch.Tensor], list[int]]:
        """This rank's share (slots rank, rank + world, ...) of the global batch of `step`."""
        if self.batch_size % world:
            raise DerainError(f"batch size {self.batch_size} is not divisible by the {world} processes")
        slots = list(range(self.batch_size))[rank::world]
        return stack([self._item(np.random.default_rng([*self.seed, step, slot])) for slot in slots]), slots


def fixed_patches(source: ArraySource, transform: Transform, seed: int, limit: int | None = None,
                  per_image: int = 1) -> list[list[np.ndarray]]:
    """`per_image` deterministic transformed patches of each of the first `limit` images (image-major).

    A held-out set that is identical at every validation and in every process.
    """
    count = len(source) if limit is None else min(limit, len(source))
    return [transform(list(source[i]), np.random.default_rng([seed, 1 << 20, i, k]))
            for i in range(count) for k in range(per_image)]


def stack(items: list[list[np.ndarray]]) -> list[torch.Tensor]:
    """Patches (list of per-item array lists) as one (N, 3, P, P) float tensor per role."""
    import torch

    return [torch.from_numpy(np.stack([np.ascontiguousarray(it[k]) for it in items]))
            .permute(0, 3, 1, 2).float().contiguous() for k in range(len(items[0]))]
