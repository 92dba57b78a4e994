"""Presets: distributions over `RainParams`, loaded from YAML and checked before any sampling.

A preset names a distribution for every parameter (see `presets/medium.yaml` for the annotated
format). Each distribution's whole support must lie inside the parameter's domain, so sampled
values never need clipping and a typo fails at load time, not after hours of rendering.

Distribution forms: a constant (`0.9`), `{uniform: [a, b]}`, `{loguniform: [a, b]}`,
`{normal: [mean, std], clip: [lo, hi]}` (the clip is required), `{choice: [...], weights: [...]}`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from derain.errors import DerainError
from derain.synth.params import BLENDS, DOMAINS, INTEGERS, RainParams, StreakLayer, check_value

GLOBAL_KEYS = ("angle", "blend", "scene_gain", "transmission", "veil_gradient", "airlight", "noise_sigma", "jpeg_quality")
LAYER_KEYS = ("probability", "angle_jitter", "density", "length", "width", "intensity", "defocus")
LAYER_DEFAULTS: dict[str, Any] = {"probability": 1.0, "angle_jitter": 0.0, "defocus": 0.0}
GLOBAL_DEFAULTS: dict[str, Any] = {"blend": "screen", "scene_gain": 0.0, "transmission": 1.0, "veil_gradient": 0.0,
                                   "airlight": 0.8, "noise_sigma": 0.0, "jpeg_quality": 0}


@dataclass(frozen=True)
class Dist:
    """A one-dimensional distribution; `values` are its parameters (or the choices)."""

    kind: str  # constant | uniform | loguniform | normal | choice
    values: tuple[Any, ...]
    clip: tuple[float, float] | None = None
    weights: tuple[float, ...] | None = None

    def support(self) -> list[Any]:
        """Extreme values (or every choice) that sampling can return, for validation."""
        if self.kind in ("constant", "choice"):
            return list(self.values)
        return list(self.clip) if self.clip else list(self.values)

    def sample(self, rng: np.random.Generator) -> Any:
        if self.kind == "constant":
            return self.values[0]
        if self.kind == "choice":
            return self.values[int(rng.choice(len(self.values), p=self.weights))]
        if self.kind == "uniform":
            return float(rng.uniform(*self.values))
        if self.kind == "loguniform":
            return float(math.exp(rng.uniform(math.log(self.values[0]), math.log(self.values[1]))))
        assert self.clip is not None  # normal: parse() requires a clip
        return float(np.clip(rng.normal(*self.values), *self.clip))

    def to_yaml(self) -> Any:
        """Plain-data form, as written in a preset file."""
        if self.kind == "constant":
            return self.values[0]
        out: dict[str, Any] = {self.kind: list(self.values)}
        if self.clip:
            out["clip"] = list(self.clip)
        if self.weights:
            out["weights"] = list(self.weights)
        return out


def _pair(name: str, spec: Any, what: str) -> tuple[float, float]:
    if not (isinstance(spec, list) and len(spec) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec)):
        raise DerainError(f"{name}: {what} needs a list of two numbers, got {spec!r}")
    return float(spec[0]), float(spec[1])


def parse_dist(name: str, spec: Any) -> Dist:
    """Parse and validate the distribution of parameter `name`."""
    if not isinstance(spec, dict):
        dist = Dist("constant", (spec,))
    else:
        kinds = [k for k in ("uniform", "loguniform", "normal", "choice") if k in spec]
        extra = set(spec) - {*kinds, "clip", "weights"}
        if len(kinds) != 1 or extra:
            raise DerainError(f"{name}: a distribution is one of uniform, loguniform, normal, choice (got keys {sorted(spec)})")
        kind = kinds[0]
        if ("clip" in spec) != (kind == "normal") or ("weights" in spec and kind != "choice"):
            raise DerainError(f"{name}: 'clip' goes with (and is required by) normal; 'weights' only with choice")
        if kind == "choice":
            choices = spec["choice"]
            if not isinstance(choices, list) or not choices:
                raise DerainError(f"{name}: choice needs a non-empty list")
            weights = spec.get("weights")
            if weights is not None:
                if not (isinstance(weights, list) and len(weights) == len(choices) and all(isinstance(w, (int, float)) and w >= 0 for w in weights) and sum(weights) > 0):
                    raise DerainError(f"{name}: weights must be {len(choices)} non-negative numbers, not all zero")
                weights = tuple(float(w) / sum(weights) for w in weights)
            dist = Dist("choice", tuple(choices), weights=weights)
        else:
            lo, hi = _pair(name, spec[kind], kind)
            if kind != "normal" and lo > hi:
                raise DerainError(f"{name}: {kind} range [{lo}, {hi}] is reversed")
            if kind == "loguniform" and lo <= 0:
                raise DerainError(f"{name}: loguniform needs positive bounds")
            if kind == "normal" and hi < 0:
                raise DerainError(f"{name}: normal standard deviation must be >= 0")
            clip = _pair(name, spec["clip"], "clip") if kind == "normal" else None
            if clip and clip[0] > clip[1]:
                raise DerainError(f"{name}: clip [{clip[0]}, {clip[1]}] is reversed")
            dist = Dist(kind, (lo, hi), clip=clip)
    for value in dist.support():
        if name == "blend":
            if value not in BLENDS:
                raise DerainError(f"blend: {value!r} is not one of {', '.join(BLENDS)}")
        else:
            check_value(name, value)
    if name in INTEGERS and dist.kind not in ("constant", "choice"):
        raise DerainError(f"{name}: integer parameter; give a constant or a choice")
    return dist


def _parse_block(block: Any, keys: tuple[str, ...], defaults: dict[str, Any], where: str) -> dict[str, Dist]:
    if not isinstance(block, dict):
        raise DerainError(f"{where}: expected a mapping of parameters")
    unknown = set(block) - set(keys)
    if unknown:
        raise DerainError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: {', '.join(keys)}")
    missing = [k for k in keys if k not in block and k not in defaults]
    if missing:
        raise DerainError(f"{where}: missing {', '.join(missing)}")
    return {k: parse_dist(f"{where}.{k}" if where != "preset" else k, block.get(k, defaults.get(k))) if False else
            _named(k, block.get(k, defaults.get(k)), where) for k in keys}
