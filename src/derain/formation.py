"""How rain forms an image, written once: streaks on the background, then vapour.

A rainy image is `O = T * (B (+) S) + (1 - T) * A` (Li et al., CVPR 2019; Wang et al., ECCV 2020):
the background `B` with the streak layer `S` put on it (screen or clipped sum), seen through the
vapour of the accumulated rain, a transmission `T` in (0, 1] that mixes in the airlight `A`. The
renderer (`derain.synth.render`, and the streaks-only targets of `derain.synth.mixture`) and
teacher B's scattering (`derain.data.scatter`) use these functions, so the model is stated in one
place. Arrays broadcast: `T` and `A` may be scalars, per-row or per-pixel maps.
"""

from __future__ import annotations

import numpy as np


def streaks_on(background: np.ndarray, streaks: np.ndarray, blend: str) -> np.ndarray:
    """`B (+) S`: streak light on the background, by screen (`1 - (1 - B)(1 - S)`) or a sum
    clipped at white."""
    if blend == "screen":
        return 1.0 - (1.0 - background) * (1.0 - streaks)
    return np.minimum(background + streaks, 1.0)


def veil(image: np.ndarray, transmission: np.ndarray | float, airlight: np.ndarray | float) -> np.ndarray:
    """`T * image + (1 - T) * A`: the image seen through vapour."""
    return transmission * image + (1.0 - transmission) * airlight
