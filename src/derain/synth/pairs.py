"""Stable per-pair seeds and JSON sidecars, so any pair can be regenerated from its record.

A pair's seed comes from (run seed, source file name, copy index) through SHA-256, never Python's
`hash()` (salted per process), so it is the same on every machine and in every run. Two generators
are derived from it: one draws the parameters, the other the noise fields, so regenerating from a
sidecar (stored parameters + seed) reproduces the rainy image byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from derain.errors import DerainError
from derain.synth.params import RainParams
from derain.synth.preset import Preset, sample_params
from derain.synth.render import render
from derain.synth.streaks import StreakBank

SIDECAR_FORMAT = "derain-synth/1"


def pair_seed(seed: int, name: str, k: int = 0) -> int:
    """63-bit seed of copy `k` of source file `name` in a run seeded with `seed`."""
    digest = hashlib.sha256(f"{seed}\0{name}\0{k}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def pair_rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The two generators of a pair seed: parameters, then noise fields (and streak draws)."""
    return np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])


def quantize(image: np.ndarray) -> np.ndarray:
    """Round to 8-bit levels: the rain is rendered on exactly what `clean/` will hold."""
    return (np.round(np.clip(image, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def render_pair(image: np.ndarray, preset: Preset, seed: int,
                streaks: StreakBank | None = None) -> tuple[np.ndarray, np.ndarray, RainParams]:
    """(clean, rainy, params) for one pair seed; `clean` is `image` quantised to 8 bits.

    With `streaks`, the rain is recombined from those rendered streak layers (see `render`).
    """
    params_rng, noise_rng = pair_rngs(seed)
    params = sample_params(preset, params_rng)
    clean = quantize(image)
    return clean, render(clean, params, noise_rng, streaks), params


def make_sidecar(params: RainParams, seed: int, **info: Any) -> dict[str, Any]:
    """JSON-ready record: format tag, pair seed, parameters, and any provenance in `info`."""
    return {"format": SIDECAR_FORMAT, **info, "pair_seed": seed, "params": params.to_dict()}


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Load and check a sidecar written by `derain synth`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DerainError(f"{path}: not a readable JSON sidecar ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT or not isinstance(data.get("pair_seed"), int):
        raise DerainError(f"{path}: not a {SIDECAR_FORMAT} sidecar")
    return data


def render_from_sidecar(clean: np.ndarray, sidecar: dict[str, Any] | str | Path,
                        streaks: StreakBank | None = None) -> np.ndarray:
    """Regenerate the rainy image of a pair from its clean image and its sidecar (dict or path).

    A pair rendered from streak layers (its sidecar names them under "streaks") needs the same bank.
    """
    data = sidecar if isinstance(sidecar, dict) else read_sidecar(sidecar)
    if "size" in data and list(data["size"]) != list(clean.shape[:2]):
        raise DerainError(f"clean image is {clean.shape[1]}x{clean.shape[0]} but the sidecar was made for "
                          f"{data['size'][1]}x{data['size'][0]}")
    if data.get("streaks") and streaks is None:
        raise DerainError(f"this pair's rain came from the streak layers {data['streaks']!r}: give that StreakBank")
    _, noise_rng = pair_rngs(data["pair_seed"])
    return render(quantize(clean), RainParams.from_dict(data["params"]), noise_rng,
                  streaks if data.get("streaks") else None)
