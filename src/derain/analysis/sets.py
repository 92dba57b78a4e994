"""Image sets of the study and the working image every statistic is computed on.

A set is given as `NAME=DIR` or `NAME=DIR:left` / `NAME=DIR:right`: the suffix keeps only that
half of side-by-side pair files (Rain800's `concat/*.jpg` are clean | rainy, split at width // 2).

Working image: the photo (or its half) is resized so that its short side is `size` pixels
(antialiased bicubic), then one `size` x `size` crop is taken at a position drawn from the seed
and the file name. Every image thus has the same pixel count, aspect and resampling path, so
neither its size, its shape nor (after resampling) its JPEG block grid can tell the sets apart.
Images whose short side is below `size` are skipped rather than upsampled (upsampling would blur
them, which the blur and width statistics would then report as a property of the set).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from derain.errors import DerainError
from derain.io import list_images, read_rgb

WORKING_SIZE = 256
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_HALVES = ("left", "right")


@dataclass
class ImageSet:
    """One `--set`: where its images are and which half of each to use."""

    name: str
    folder: Path
    half: str | None = None  # None, "left" or "right"
    skipped: dict[str, str] = field(default_factory=dict)  # file name -> reason

    @property
    def spec(self) -> str:
        return f"{self.folder}{':' + self.half if self.half else ''}"


def parse_set(text: str) -> ImageSet:
    """Parse `NAME=DIR[:left|:right]` (one-line `DerainError` when malformed)."""
    name, sep, rest = text.partition("=")
    if not sep or not rest:
        raise DerainError(f"--set {text!r}: expected NAME=DIR or NAME=DIR:left / NAME=DIR:right")
    if not _NAME.match(name):
        raise DerainError(f"--set {text!r}: name {name!r} must be letters, digits, '_', '.', '+' or '-'")
    folder, colon, half = rest.rpartition(":")
    if not colon or half not in _HALVES:
        folder, half = rest, None
    return ImageSet(name, Path(folder), half)


def working_image(rgb: np.ndarray, key: str, size: int = WORKING_SIZE, seed: int = 0,
                  half: str | None = None) -> np.ndarray:
    """The `size` x `size` working image of `rgb` (see module docstring); `key` seeds the crop."""
    if half is not None:
        mid = rgb.shape[1] // 2
        rgb = rgb[:, :mid] if half == "left" else rgb[:, mid:]
    h, w = rgb.shape[:2]
    if min(h, w) < size:
        raise DerainError(f"short side {min(h, w)} px is below the working size {size}")
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        rgb = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(rgb[..., c]))
                                   .resize((new_w, new_h), Image.Resampling.BICUBIC)) for c in range(3)], axis=2)
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    top, left = int(rng.integers(0, new_h - size + 1)), int(rng.integers(0, new_w - size + 1))
    return np.clip(rgb[top : top + size, left : left + size], 0.0, 1.0).astype(np.float32)


def select_files(image_set: ImageSet, max_count: int | None, seed: int) -> list[Path]:
    """The set's image files, a seeded random subset of `max_count` of them if given (name order)."""
    files = list_images(image_set.folder)
    if not files:
        raise DerainError(f"set {image_set.name!r}: no images in {image_set.folder}")
    if max_count is not None and len(files) > max_count:
        rng = np.random.default_rng([seed, zlib.crc32(image_set.name.encode())])
        files = [files[i] for i in sorted(rng.choice(len(files), max_count, replace=False))]
    return files


def iter_working_images(image_set: ImageSet, files: list[Path], size: int,
                        seed: int) -> Iterator[tuple[Path, np.ndarray]]:
    """Yield (file, working image); unreadable or too small files go to `image_set.skipped`."""
    for path in files:
        try:
            rgb = read_rgb(path)
            yield path, working_image(rgb, path.name, size, seed, image_set.half)
        except DerainError as exc:
            image_set.skipped[path.name] = str(exc).removeprefix(f"{path}: ")
