"""How rain forms an image, written once: streaks on the background, then vapour.

A rainy image is `O = T * (B (+) S) + (1 - T) * A` (Li et al., CVPR 2019; Wang et al., ECCV 2020):
the background `B` with the streak layer `S` put on it (screen or clipped sum), seen through the
vapour of the accumulated rain, a transmission `T` in (0, 1] that mixes in the airlight `A`. The
renderer (`derain.synth.render`, and the streaks-only targets of `derain.synth.mixture`) and
teacher B's scattering (`derain.data.scatter`) use these functions, so the model is stated in one
place. Arrays broadcast: `T` and `A` may be scalars, per-row or per-pixel maps; the functions
take numpy arrays and torch tensors alike, so the network and its export invert the same model
the renderer composes.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

Image = TypeVar("Image")  # np.ndarray or torch.Tensor: only arithmetic is used

# The lowest transmission the network estimates: the inverse divides by T, so a floor bounds how
# much it can amplify noise (5x). The renderer's heaviest veil reaches about 0.25 at the top of
# a frame: vapour that thick is left partly in place rather than invented away.
MIN_TRANSMISSION = 0.2


def streaks_on(background: np.ndarray, streaks: np.ndarray, blend: str) -> np.ndarray:
    """`B (+) S`: streak light on the background, by screen (`1 - (1 - B)(1 - S)`) or a sum
    clipped at white."""
    if blend == "screen":
        return 1.0 - (1.0 - background) * (1.0 - streaks)
    return np.minimum(background + streaks, 1.0)


def veil(image: np.ndarray, transmission: np.ndarray | float, airlight: np.ndarray | float) -> np.ndarray:
    """`T * image + (1 - T) * A`: the image seen through vapour."""
    return transmission * image + (1.0 - transmission) * airlight


def depth_gradient(height: int, gradient: float) -> np.ndarray:
    """Relative transmission per row, (height, 1): `1 - gradient` at the top (usually farther),
    1 at the bottom."""
    depth = 1.0 - np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]  # 1 at the top (far)
    return 1.0 - gradient * depth


def unveil(image: Image, transmission: Image, airlight: Image, amount: float = 1.0) -> Image:
    """Invert `veil` by `amount` (0 keeps the veil as it is, 1 removes all of it):
    `(O - (1 - T') A) / T'` with `T' = 1 - amount (1 - T)`. Of `O = veil(B, T, A)` it leaves
    `veil(B, T / T', A)`: the scene under a veil that thins steadily from `T` to none as `amount`
    goes from 0 to 1. The caller clips to [0, 1]."""
    thinned = 1.0 - amount * (1.0 - transmission)
    return (image - (1.0 - thinned) * airlight) / thinned
