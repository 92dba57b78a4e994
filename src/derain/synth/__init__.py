"""Rain synthesis: paired rainy/clean images from rain-free photos, reproducible from a seed.

    >>> from derain.synth import load_preset, sample_params, render
    >>> rng = np.random.default_rng(0)
    >>> params = sample_params(load_preset("medium"), rng)   # every number, JSON-serialisable
    >>> rainy = render(clean, params, rng)                   # float32 (H, W, 3) in [0, 1]
"""

from derain.synth.pairs import make_sidecar, pair_seed, read_sidecar, render_from_sidecar, render_pair
from derain.synth.params import RainParams, StreakLayer
from derain.synth.preset import Preset, list_presets, load_preset, sample_params
from derain.synth.render import render, streak_kernel

__all__ = [
    "Preset", "RainParams", "StreakLayer", "list_presets", "load_preset", "make_sidecar", "pair_seed",
    "read_sidecar", "render", "render_from_sidecar", "render_pair", "sample_params", "streak_kernel",
]
