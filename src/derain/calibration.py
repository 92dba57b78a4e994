"""Calibration photos for static int8 quantisation, with rain rendered on them.

Kept apart from the ONNX backend, which needs torch, so that `derain export --help` and the
command's defaults load without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from derain.errors import DerainError

CALIBRATION_SOURCES = ("sirr147", "bsds500")  # training pools: real rain and rain-free photos
CALIBRATION_RAIN = ("light", "medium", "heavy")


def calibration_photos(sources: Sequence[str]) -> list[Path]:
    """The photos of each source (a catalogue name or a folder); evaluation-only sets are refused,
    since choosing quantisation ranges on a test set is tuning on it."""
    from derain.data.catalog import CATALOG, dataset_path, is_eval_only
    from derain.io import list_images

    photos: list[Path] = []
    for source in sources:
        if is_eval_only(source):
            raise DerainError(f"{source!r} is evaluation-only; calibrate on training or your own photos")
        folder = dataset_path(source) if source in CATALOG else Path(source)
        if not folder.is_dir():
            raise DerainError(f"calibration source {source!r}: no folder {folder} (give --calibration DIR of photos)")
        photos += list_images(folder)
    if not photos:
        raise DerainError(f"no images in the calibration sources {', '.join(sources)}")
    return photos


def calibration_crops(images: Sequence[Path], count: int = 48, size: int = 256, seed: int = 0,
                      rain: Sequence[str] = CALIBRATION_RAIN) -> list[Any]:
    """One random (1, 3, size, size) float32 crop from each of `count` photos spread evenly over
    `images` (those smaller than `size` are passed over), with rain of the presets `rain` rendered
    on them in turn (seeded): the ranges must cover the rain the model removes, from drizzle to
    storms, which photos alone, many with little rain or none, do not show."""
    import numpy as np

    from derain.io import read_rgb
    from derain.synth import load_preset, pair_seed, render_pair

    presets = [load_preset(name) for name in rain]

    rng = np.random.default_rng(seed)
    step = max(1, len(images) // count)
    crops = []
    spread = [i for offset in range(step) for i in range(offset, len(images), step)]  # every step-th first
    for i in spread:
        a = read_rgb(images[i])
        if min(a.shape[:2]) < size:
            continue
        y, x = rng.integers(0, a.shape[0] - size + 1), rng.integers(0, a.shape[1] - size + 1)
        crop = a[y:y + size, x:x + size]
        if presets:
            crop = render_pair(crop, presets[len(crops) % len(presets)], pair_seed(seed, images[i].name))[1]
        crops.append(np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32))
        if len(crops) == count:
            return crops
    if not crops:
        raise DerainError(f"calibration needs photos of at least {size}x{size} px; none among {len(images)} files")
    return crops
