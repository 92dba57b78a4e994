"""Training pairs rendered on the fly: a mixture of rain from drizzle to storms, and identity pairs.

Each pair is rendered on a crop of a rain-free photo, so the cost is that of a patch, not of a
photo, and nothing is cached on disk: a pair is a pure function of the generator the sampler
seeds with (seed, step, slot). Sources: the shipped presets (procedural streaks) and `garg06`
(rendered Garg-Nayar streak layers recombined by `StreakBank`), weighted by `MixtureConfig.sources`.

Do no harm: sensor noise and JPEG are applied to the rainy image *and* to its target, with the
same noise field and quality, so the only thing the network is asked to remove is the rain; and a
share of pairs are rain-free in, the same image out, so a clean photo is left alone. With
`keep_veil`, a target keeps the veil its rainy image has (the same transmission and airlight,
without streaks): such a network removes streaks and leaves the scene's haze and brightness alone,
which is also what a real reference (a temporal median, vapour included) rewards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from derain.data.patches import ArraySource, Transform, jpeg, random_crop
from derain.errors import DerainError
from derain.synth.params import RainParams
from derain.synth.preset import Preset, list_presets, load_preset, sample_params
from derain.synth.render import composite, rain_layer, vapour
from derain.synth.streaks import StreakBank

STREAKS = "garg06"  # the source name of the rendered streak layers


@dataclass
class MixtureConfig:
    """Which rain, in which proportions, on which rain-free photos."""

    clean: list[str] = field(default_factory=lambda: ["bsds500", "urban100", "sunhays80"])
    sources: dict[str, float] = field(default_factory=lambda: {"light": 1.0, "medium": 1.0, "heavy": 1.0, "real": 2.0,
                                                               STREAKS: 2.0})
    streaks: str = "streaks/garg06"  # folder of streak layers (relative to the data root, or absolute)
    identity: float = 0.1  # share of rain-free pairs (input = target)
    keep_veil: bool = False  # targets keep the rain's veil (T, A): only the streaks are to be removed
    share: float = 0.85  # share of a batch rendered here; the rest comes from the paired sets
    val: str = "kodak24"  # rain-free set of the validation (never trained on): rained on, and as it is

    def validate(self) -> None:
        if not self.clean:
            raise DerainError("config: synth.clean needs at least one rain-free set")
        known = set(list_presets()) | {STREAKS}
        unknown = sorted(set(self.sources) - known)
        if unknown or not self.sources:
            raise DerainError(f"config: synth.sources: unknown {', '.join(unknown) or '(empty)'}; "
                              f"known: {', '.join(sorted(known))}")
        if min(self.sources.values()) < 0 or sum(self.sources.values()) <= 0:
            raise DerainError("config: synth.sources weights must be >= 0 and not all 0")
        if self.val in self.clean:
            raise DerainError(f"config: synth.val {self.val!r} is the validation set; it cannot be a training pool too")
        if not 0 <= self.identity < 1 or not 0 < self.share <= 1:
            raise DerainError("config: synth.identity must be in [0, 1) and synth.share in (0, 1]")


class RainMixture:
    """Draws the rain of one pair: a source by weight, its parameters, its streak layer."""

    def __init__(self, cfg: MixtureConfig, streaks: StreakBank | None = None) -> None:
        self.names = [n for n, w in cfg.sources.items() if w > 0]
        weights = np.array([cfg.sources[n] for n in self.names], dtype=np.float64)
        self.weights = weights / weights.sum()
        self.presets: dict[str, Preset] = {n: load_preset(n) for n in self.names if n != STREAKS}
        if STREAKS in self.names and streaks is None:
            raise DerainError(f"the {STREAKS!r} rain source needs a streak bank")
        self.streaks, self.identity, self.keep_veil = streaks, cfg.identity, cfg.keep_veil
        # Streak layers take their lighting, veil and camera from a preset drawn among these.
        self._looks = list(self.presets.values()) or [load_preset("real")]

    def source(self, rng: np.random.Generator) -> str:
        return self.names[int(rng.choice(len(self.names), p=self.weights))]

    def draw(self, shape: tuple[int, int], rng: np.random.Generator,
             source: str | None = None) -> tuple[RainParams, np.ndarray]:
        """The parameters and the (H, W) streak layer of one rain of `source` (drawn by weight if None)."""
        source = source or self.source(rng)
        if source == STREAKS:
            return sample_params(self._looks[int(rng.integers(len(self._looks)))], rng), self.streaks.layer(shape, rng)
        params = sample_params(self.presets[source], rng)
        return params, rain_layer(params, shape, rng)

    def pair(self, clean: np.ndarray, rng: np.random.Generator,
             source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rainy, target) for a float (H, W, 3) rain-free crop; `source` forces the kind of rain."""
        if source is None and rng.random() < self.identity:
            return clean, clean
        params, rain = self.draw(clean.shape[:2], rng, source)
        chw = np.ascontiguousarray(clean.transpose(2, 0, 1), dtype=np.float32)
        rainy = composite(chw, rain, params).transpose(1, 2, 0)
        target = vapour(chw, params).transpose(1, 2, 0) if self.keep_veil else clean
        return camera([rainy, target], params, rng)


def camera(images: list[np.ndarray], params: RainParams, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The same sensor noise field and JPEG quality on every image (rainy and its target)."""
    noise = (params.noise_sigma * rng.standard_normal(images[0].shape, dtype=np.float32) if params.noise_sigma > 0
             else 0.0)
    out = [np.clip(im + noise, 0.0, 1.0).astype(np.float32) for im in images]
    return tuple(jpeg(im, params.jpeg_quality) if params.jpeg_quality else im for im in out)


def open_mixture(mix: MixtureConfig, root: str | None = None) -> RainMixture:
    """The mixture a config describes, its streak bank opened under the data root if it draws from one."""
    from derain.paths import data_root

    streaks = None
    if mix.sources.get(STREAKS, 0) > 0:
        folder = Path(mix.streaks)
        streaks = StreakBank(folder if folder.is_absolute() else data_root(root) / folder)
    return RainMixture(mix, streaks)


class FixedPairs:
    """Pairs rendered once and kept, 8-bit as a paired dataset stores them: a small training set
    that does not grow with the steps (the few-fixed-pairs regime of issue 29)."""

    def __init__(self, mixture: RainMixture, photos: ArraySource, names: list[str], count: int, size: int,
                 seed: int) -> None:
        rng = np.random.default_rng([seed, 29])
        chosen = rng.choice(len(photos), count, replace=count > len(photos))
        self.pairs: list[tuple[np.ndarray, ...]] = []
        self.names = []
        for k, index in enumerate(chosen):
            crop = random_crop(size)([photos[int(index)][0]], rng)[0]
            self.pairs.append(tuple(np.round(a * 255.0).astype(np.uint8) for a in mixture.pair(crop, rng)))
            self.names.append(f"{names[int(index)]}#{k}")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[np.ndarray, ...]:
        return tuple(a.astype(np.float32) / 255.0 for a in self.pairs[i])


def render_rain(mixture: RainMixture) -> Transform:
    """Transform `[clean]` into `[rainy, target]` (place it after the crop: rendering costs per pixel)."""

    def rain(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        return list(mixture.pair(arrays[0], rng))

    return rain
