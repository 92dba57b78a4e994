"""Rendering rain onto a clean image, the established way, fast enough for on-the-fly pairs.

Per streak layer: sparse seeds from a uniform noise field (density = chance a pixel seeds a
streak, brightness varies per seed), convolved with an anti-aliased line kernel (angle, length,
width) and, for near layers, a Gaussian defocus; overlaps are summed and clipped. The convolution
is one FFT product on a noise field of an FFT-friendly size a little larger than the image (so
streaks enter from outside the frame and the cost does not depend on the streak length).

Composition follows the heavy-rain model of Li et al. (CVPR 2019), `derain.formation`:
`O = T * (B (+) S * C) + (1 - T) * A`: streak layers `S` merged by screen, lit with colour `C`
(white, or the scene's mean colour: a drop refracts light from a wide field of view), put on the
background `B` by screen or clipped addition, then veiled by the accumulated rain (transmission
`T`, lower towards the top of the frame where the scene is usually farther, and airlight `A`).
Then sensor noise and an in-memory JPEG round trip.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft

from derain.data.patches import jpeg
from derain.errors import DerainError
from derain.formation import depth_gradient, streaks_on, veil
from derain.synth.params import RainParams, StreakLayer
from derain.synth.streaks import StreakBank

MIN_SEED_BRIGHTNESS = 0.25  # seeds are uniform in [this, 1]: streaks of one layer vary in brightness


def streak_kernel(angle: float, length: float, width: float) -> np.ndarray:
    """Anti-aliased line of `length` x `width` (FWHM) pixels, `angle` degrees from vertical.

    The cross profile is a Gaussian widened by the pixel footprint and scaled so that it carries
    `width` units of light per unit length: sub-pixel streaks come out fainter, as they would.
    """
    theta = math.radians(angle)
    along_dir = (math.sin(theta), math.cos(theta))  # (x, y); y points down
    sigma = math.sqrt((width / 2.3548) ** 2 + 1.0 / 12.0)
    half = math.ceil(length / 2 + 3 * sigma + 1)
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    along = xx * along_dir[0] + yy * along_dir[1]
    across = xx * along_dir[1] - yy * along_dir[0]
    ends = np.clip(length / 2 + 0.5 - np.abs(along), 0.0, 1.0)
    profile = np.exp(-0.5 * (across / sigma) ** 2) * (width / (sigma * math.sqrt(2 * math.pi)))
    return (ends * profile).astype(np.float32)


def _transfer(kernel: np.ndarray, shape: tuple[int, int], defocus: float) -> np.ndarray:
    """FFT of `kernel` centred at the origin on a `shape` torus, times a Gaussian defocus."""
    half = kernel.shape[0] // 2
    placed = np.zeros(shape, np.float32)
    rows = (np.arange(-half, half + 1) % shape[0])[:, None]
    cols = (np.arange(-half, half + 1) % shape[1])[None, :]
    np.add.at(placed, (rows, cols), kernel)  # add.at: a kernel larger than the field wraps onto itself
    spectrum = fft.rfft2(placed)
    if defocus > 0:
        fy = fft.fftfreq(shape[0])[:, None]
        fx = fft.rfftfreq(shape[1])[None, :]
        spectrum *= np.exp(-2 * math.pi**2 * defocus**2 * (fx**2 + fy**2)).astype(np.float32)
    return spectrum


def render_layer(layer: StreakLayer, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """One streak layer, float32 (H, W) in [0, 1]; consumes one uniform field from `rng`."""
    field_shape = (fft.next_fast_len(shape[0], real=True), fft.next_fast_len(shape[1], real=True))
    noise = rng.random(field_shape, dtype=np.float32)
    seeds = np.where(noise < layer.density, 1.0 - (1.0 - MIN_SEED_BRIGHTNESS) * noise / layer.density,
                     0.0).astype(np.float32)
    kernel = streak_kernel(layer.angle, layer.length, layer.width)
    streaks = fft.irfft2(fft.rfft2(seeds) * _transfer(kernel, field_shape, layer.defocus), s=field_shape)
    return np.clip(streaks[: shape[0], : shape[1]] * layer.intensity, 0.0, 1.0).astype(np.float32)


def rain_layer(params: RainParams, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """All streak layers merged by screen: float32 (H, W) in [0, 1]."""
    keep = np.ones(shape, np.float32)
    for layer in params.layers:
        keep *= 1.0 - render_layer(layer, shape, rng)
    return 1.0 - keep


def composite(clean: np.ndarray, rain: np.ndarray, params: RainParams) -> np.ndarray:
    """Put a rain layer (H, W) in [0, 1] on `clean` (3, H, W): colour, blend and veil, no camera.

    Shared by the procedural streaks of `render` and any other streak source (e.g. the rendered
    Garg-Nayar layers of `derain.synth.streaks`), so every source is lit and veiled the same way.
    """
    colour = (1.0 - params.scene_gain) + params.scene_gain * clean.reshape(3, -1).mean(axis=1)
    lit = rain[None] * colour.astype(np.float32)[:, None, None]
    return vapour(streaks_on(clean, lit, params.blend), params)


def vapour(image: np.ndarray, params: RainParams) -> np.ndarray:
    """The veil of `params` on `image` (3, H, W): transmission lower at the top (where the scene
    is usually farther), airlight grey. Without a veil the image itself is returned."""
    if params.transmission >= 1.0 and params.veil_gradient <= 0.0:
        return image
    return veil(image, params.transmission * depth_gradient(image.shape[1], params.veil_gradient), params.airlight)


def render(image: np.ndarray, params: RainParams, rng: np.random.Generator,
           streaks: StreakBank | None = None) -> np.ndarray:
    """Rainy version of `image` (float (H, W, 3) in [0, 1]); deterministic given `rng`'s state.

    `rng` provides only the noise fields (one per layer, then the sensor noise); every other
    number comes from `params`. With `streaks`, the rain layer is recombined from those rendered
    streak files (drawn from `rng`) instead of the procedural `params.layers`; lighting, veil and
    camera still come from `params`. The input is not modified.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise DerainError(f"render needs an (H, W, 3) image, got shape {image.shape}")
    clean = np.clip(image, 0.0, 1.0).astype(np.float32).transpose(2, 0, 1).copy()  # (3, H, W): fast broadcasting
    shape = clean.shape[1:]
    out = composite(clean, streaks.layer(shape, rng) if streaks is not None else rain_layer(params, shape, rng), params)
    if params.noise_sigma > 0:
        out += params.noise_sigma * rng.standard_normal(out.shape, dtype=np.float32)
    out = np.clip(out, 0.0, 1.0).transpose(1, 2, 0)
    return jpeg(out, params.jpeg_quality) if params.jpeg_quality else np.ascontiguousarray(out, dtype=np.float32)
