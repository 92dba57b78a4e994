"""Rain parameters: every number a rendering uses, with the range each one is allowed to take.

`RainParams` is what a JSON sidecar stores; it is sampled from a preset (`derain.synth.preset`) and
consumed by `derain.synth.render`. The same `DOMAINS` table validates both a preset's distributions
and a hand-edited sidecar, so an out-of-range value is refused wherever it comes from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from derain.errors import DerainError

BLENDS = ("screen", "add")

# name -> (low, high, low end excluded). Angles are degrees from vertical, positive = the streak's
# lower end lies to the right (wind blowing left to right); lengths and widths are in pixels.
DOMAINS: dict[str, tuple[float, float, bool]] = {
    "density": (0.0, 1.0, True),  # fraction of pixels that seed a streak
    "angle": (-90.0, 90.0, False),
    "angle_jitter": (-90.0, 90.0, False),  # per-layer deviation from the shared angle
    "length": (0.0, 1000.0, True),
    "width": (0.0, 50.0, True),  # full width at half maximum
    "intensity": (0.0, 1.0, False),  # peak brightness of a lone streak
    "defocus": (0.0, 20.0, False),  # Gaussian sigma, pixels (near layers are out of focus)
    "probability": (0.0, 1.0, False),  # chance that a preset layer is present
    "scene_gain": (0.0, 1.0, False),  # 0: white streaks, 1: streaks take the scene's mean colour
    "transmission": (0.0, 1.0, True),  # veiling: fraction of scene + streak light that gets through
    "veil_gradient": (0.0, 1.0, False),  # how much less transmission at the top (farther) than the bottom
    "airlight": (0.0, 1.0, False),
    "noise_sigma": (0.0, 0.2, False),  # Gaussian sensor noise, in [0, 1] units
    "jpeg_quality": (0.0, 100.0, False),  # 0: no JPEG round trip
}
INTEGERS = frozenset({"jpeg_quality"})


def check_value(name: str, value: Any) -> None:
    """Raise if `value` is not a number inside `name`'s domain."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DerainError(f"{name}: expected a number, got {value!r}")
    lo, hi, open_lo = DOMAINS[name]
    if not (lo < value <= hi if open_lo else lo <= value <= hi):
        raise DerainError(f"{name}={value} is outside {'(' if open_lo else '['}{lo:g}, {hi:g}]")
    if name in INTEGERS and value != int(value):
        raise DerainError(f"{name}={value} must be an integer")


def _check_all(obj: object) -> None:
    for f in fields(obj):  # type: ignore[arg-type]
        if f.name in DOMAINS:
            check_value(f.name, getattr(obj, f.name))


@dataclass(frozen=True)
class StreakLayer:
    """One depth layer of streaks: all share a direction, length, width and focus."""

    density: float
    angle: float
    length: float
    width: float
    intensity: float
    defocus: float = 0.0

    def __post_init__(self) -> None:
        _check_all(self)


@dataclass(frozen=True)
class RainParams:
    """Everything `render` needs besides the image and the noise seed (JSON-serialisable)."""

    layers: tuple[StreakLayer, ...]
    blend: str = "screen"
    scene_gain: float = 0.0
    transmission: float = 1.0
    veil_gradient: float = 0.0
    airlight: float = 0.8
    noise_sigma: float = 0.0
    jpeg_quality: int = 0

    def __post_init__(self) -> None:
        if not self.layers:
            raise DerainError("rain parameters need at least one streak layer")
        if self.blend not in BLENDS:
            raise DerainError(f"blend={self.blend!r} is not one of {', '.join(BLENDS)}")
        _check_all(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RainParams:
        """Inverse of `to_dict`; unknown or missing keys are a one-line error."""
        try:
            layers = tuple(StreakLayer(**layer) for layer in data["layers"])
            return cls(**{**data, "layers": layers})
        except (KeyError, TypeError) as exc:
            raise DerainError(f"malformed rain parameters: {exc}") from exc
