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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from derain.errors import DerainError
from derain.synth.params import BLENDS, INTEGERS, RainParams, StreakLayer, check_value

GLOBAL_DEFAULTS: dict[str, Any] = {"angle": None, "blend": "screen", "scene_gain": 0.0, "transmission": 1.0,
                                   "veil_gradient": 0.0, "airlight": 0.8, "noise_sigma": 0.0, "jpeg_quality": 0}
LAYER_DEFAULTS: dict[str, Any] = {"probability": 1.0, "angle_jitter": 0.0, "density": None, "length": None,
                                  "width": None, "intensity": None, "defocus": 0.0}  # None: required
DIST_KINDS = ("uniform", "loguniform", "normal", "choice")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
        return list(self.clip if self.kind == "normal" else self.values)

    def sample(self, rng: np.random.Generator) -> Any:
        if self.kind == "constant":
            return self.values[0]
        if self.kind == "choice":
            return self.values[int(rng.choice(len(self.values), p=self.weights))]
        if self.kind == "uniform":
            return float(rng.uniform(*self.values))
        if self.kind == "loguniform":
            return float(math.exp(rng.uniform(math.log(self.values[0]), math.log(self.values[1]))))
        return float(np.clip(rng.normal(*self.values), *self.clip))  # normal


def _pair(where: str, spec: Any, what: str) -> tuple[float, float]:
    if not (isinstance(spec, list) and len(spec) == 2 and all(map(_is_number, spec))):
        raise DerainError(f"{where}: {what} needs a list of two numbers, got {spec!r}")
    return float(spec[0]), float(spec[1])


def _parse_mapping(where: str, spec: dict[str, Any]) -> Dist:
    kinds = [k for k in DIST_KINDS if k in spec]
    if len(kinds) != 1 or set(spec) - {*kinds, "clip", "weights"}:
        raise DerainError(f"{where}: a distribution is one of {', '.join(DIST_KINDS)} "
                          f"(got keys {', '.join(map(str, spec))})")
    kind = kinds[0]
    if ("clip" in spec) != (kind == "normal") or ("weights" in spec and kind != "choice"):
        raise DerainError(f"{where}: 'clip' is required by normal and only allowed there; 'weights' only with choice")
    if kind == "choice":
        choices, weights = spec["choice"], spec.get("weights")
        if not isinstance(choices, list) or not choices:
            raise DerainError(f"{where}: choice needs a non-empty list")
        if weights is not None:
            if not (isinstance(weights, list) and len(weights) == len(choices)
                    and all(_is_number(w) and w >= 0 for w in weights) and sum(weights) > 0):
                raise DerainError(f"{where}: weights must be {len(choices)} non-negative numbers, not all zero")
            weights = tuple(float(w) / sum(weights) for w in weights)
        return Dist("choice", tuple(choices), weights=weights)
    lo, hi = _pair(where, spec[kind], kind)
    if kind == "normal":
        clip = _pair(where, spec["clip"], "clip")
        if hi < 0 or clip[0] > clip[1]:
            raise DerainError(f"{where}: normal needs std >= 0 and an increasing clip")
        return Dist(kind, (lo, hi), clip=clip)
    if lo > hi or (kind == "loguniform" and lo <= 0):
        raise DerainError(f"{where}: {kind} range [{lo:g}, {hi:g}] must be "
                          f"increasing{' and positive' if kind == 'loguniform' else ''}")
    return Dist(kind, (lo, hi))


def parse_dist(name: str, spec: Any, where: str | None = None) -> Dist:
    """Parse the distribution of parameter `name` and check its support against the domain."""
    where = where or name
    dist = _parse_mapping(where, spec) if isinstance(spec, dict) else Dist("constant", (spec,))
    if name in INTEGERS and dist.kind not in ("constant", "choice"):
        raise DerainError(f"{where}: integer parameter, give a constant or a choice")
    for value in dist.support():
        if name == "blend":
            if value not in BLENDS:
                raise DerainError(f"{where}: {value!r} is not one of {', '.join(BLENDS)}")
            continue
        try:
            check_value(name, value)
        except DerainError as exc:
            raise DerainError(f"{where}: {exc}") from None
    return dist


def _parse_block(block: Any, defaults: dict[str, Any], where: str) -> dict[str, Dist]:
    if not isinstance(block, dict):
        raise DerainError(f"{where}: expected a mapping of parameters")
    unknown = sorted(map(str, set(block) - set(defaults)))
    if unknown:
        raise DerainError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(defaults)}")
    missing = [k for k, v in defaults.items() if v is None and k not in block]
    if missing:
        raise DerainError(f"{where}: missing {', '.join(missing)}")
    return {k: parse_dist(k, block.get(k, default), f"{where}.{k}") for k, default in defaults.items()}


@dataclass(frozen=True)
class Preset:
    """A validated preset: global distributions, and one set per streak layer (far to near)."""

    name: str
    description: str
    globals: dict[str, Dist]
    layers: tuple[dict[str, Dist], ...]
    source: dict[str, Any]  # the YAML as loaded, stored in the run manifest

    @classmethod
    def from_dict(cls, name: str, data: Any) -> Preset:
        if not isinstance(data, dict):
            raise DerainError(f"preset {name}: expected a mapping at the top level")
        body = {k: v for k, v in data.items() if k not in ("description", "layers")}
        layers = data.get("layers")
        if not isinstance(layers, list) or not layers:
            raise DerainError(f"preset {name}: 'layers' must be a non-empty list of streak layers")
        parsed = tuple(_parse_block(layer, LAYER_DEFAULTS, f"preset {name}: layers[{i}]")
                       for i, layer in enumerate(layers))
        if not any(layer["probability"].support() == [1.0] for layer in parsed):
            raise DerainError(f"preset {name}: at least one layer needs probability 1, so every image gets rain")
        return cls(name, str(data.get("description", "")), _parse_block(body, GLOBAL_DEFAULTS, f"preset {name}"),
                   parsed, data)


def _builtin_dir() -> Path:
    return Path(str(resources.files("derain.synth") / "presets"))


def list_presets() -> list[str]:
    """Names of the presets shipped with the package."""
    return sorted(p.stem for p in _builtin_dir().glob("*.yaml"))


def load_preset(name_or_path: str | os.PathLike[str]) -> Preset:
    """A shipped preset by name, or a YAML file by path (anything with a suffix or a slash)."""
    text = str(name_or_path)
    path = Path(text) if (Path(text).suffix or os.sep in text) else _builtin_dir() / f"{text}.yaml"
    if not path.is_file():
        if path.parent == _builtin_dir():
            raise DerainError(f"unknown preset {text!r}; choose one of {', '.join(list_presets())} "
                              "or give a .yaml path")
        raise DerainError(f"{path}: no such preset file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DerainError(f"{path}: not a readable YAML file ({type(exc).__name__})") from exc
    return Preset.from_dict(path.stem, data)


def _wrap_angle(angle: float) -> float:
    """Map an orientation onto [-90, 90): streaks at 100 and -80 degrees look the same."""
    return (angle + 90.0) % 180.0 - 90.0 if not -90.0 <= angle <= 90.0 else angle


def _typed(name: str, value: Any) -> Any:
    return value if name == "blend" else int(value) if name in INTEGERS else float(value)


def sample_params(preset: Preset, rng: np.random.Generator) -> RainParams:
    """Draw one set of rain parameters; layers whose probability draw fails are left out."""
    values = {k: _typed(k, d.sample(rng)) for k, d in preset.globals.items()}
    shared_angle = values.pop("angle")  # recorded per layer, after jitter
    layers = []
    for spec in preset.layers:
        drawn = {k: float(d.sample(rng)) for k, d in spec.items()}
        if rng.random() >= drawn.pop("probability"):
            continue
        angle = _wrap_angle(shared_angle + drawn.pop("angle_jitter"))
        layers.append(StreakLayer(angle=angle, **drawn))
    return RainParams(layers=tuple(layers), **values)
