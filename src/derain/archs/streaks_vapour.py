"""StreaksVapourNet: a derainer that inverts the rain image formation, streaks and vapour apart.

A rainy image is `O = T (B (+) S) + (1 - T) A` (derain.formation). The streak branch (a RainUNet
trained on targets that keep the veil) maps `O` to `V = T B + (1 - T) A`, locally, at full
resolution and tile by tile; the vapour branch (VapourNet) estimates `T` and `A` once for the whole
image; the output is `unveil(V, T, A, amount)`. `amount` is the user's: 0 keeps the veil (a
streaks-only derainer), 1 removes all the vapour estimated. The inference engine runs the two
branches itself (vapour once, streaks per tile); `forward` does the same in one piece.
"""

from __future__ import annotations

import torch
from torch import nn

from derain.archs import register_model
from derain.archs.student import rain_unet_s
from derain.archs.vapour import downscale, upsample, vapour_s
from derain.formation import unveil


class StreaksVapourNet(nn.Module):
    """`streaks` (O -> V) and `vapour` (O -> veil map) and the inverse that joins them."""

    def __init__(self, streaks: nn.Module, vapour: nn.Module) -> None:
        super().__init__()
        self.streaks, self.vapour = streaks, vapour
        self.align = getattr(streaks, "align", 1)

    def forward(self, rainy: torch.Tensor, amount: float = 1.0) -> torch.Tensor:
        """Derain a (B, 3, H, W) batch in [0, 1], removing `amount` of the estimated vapour."""
        veiled = self.streaks(rainy)
        if amount == 0:
            return veiled
        transmission, airlight = upsample(self.vapour(downscale(rainy)), rainy.shape[-2:])
        return unveil(veiled, transmission, airlight, amount).clamp(0, 1)


@register_model("streaks_vapour_s", task="derain", vapour=True)
def streaks_vapour_s() -> StreaksVapourNet:
    """The student as the streak branch, `vapour_s` as the vapour branch (about 0.8M parameters)."""
    return StreaksVapourNet(rain_unet_s(), vapour_s())
