"""RainUNet: the compact encoder-decoder derainer (the task-transfer student).

It predicts the rain layer R and returns `clamp(input - R, 0, 1)` (docs/METHOD.md section 7). All
convolutions run at 1/2 resolution or lower, which is what makes it an order of magnitude faster
than PReNet on a CPU. The same class, wider, is the reconstruction teacher, so the features at the
three scales correspond one to one for distillation.
"""

from __future__ import annotations

import torch
from torch import nn

from derain.archs import register_model
from derain.archs.blocks import Encoder, ResBlock, pad_to_multiple


def _upsample(cin: int, cout: int) -> nn.Sequential:
    """1x1 conv to 4x channels, then pixel-shuffle: a cheap learned 2x upsampling."""
    return nn.Sequential(nn.Conv2d(cin, cout * 4, 1), nn.PixelShuffle(2), nn.ReLU(inplace=True))


class RainUNet(nn.Module):
    """Encoder-decoder with additive skips that outputs the derained image."""

    align = 8  # total downsampling: outputs are shift-equivariant for shifts that are multiples of 8

    def __init__(self, widths: tuple[int, int, int] = (32, 48, 64), depths: tuple[int, int, int] = (2, 2, 2)) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.encoder = Encoder(widths, depths)
        self.up2 = _upsample(w3, w2)
        self.dec2 = ResBlock(w2)
        self.up1 = _upsample(w2, w1)
        self.dec1 = ResBlock(w1)
        self.head = nn.Sequential(nn.Conv2d(w1, 12, 3, 1, 1), nn.PixelShuffle(2))
        # Predict no rain at initialisation: the untrained network is the identity, so every
        # training stage starts from "output = input" instead of from noise.
        nn.init.zeros_(self.head[0].weight)
        nn.init.zeros_(self.head[0].bias)

    def forward_features(self, rainy: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the (unclamped) restored image and the encoder features at 1/2, 1/4, 1/8."""
        h, w = rainy.shape[-2:]
        x, _ = pad_to_multiple(rainy, 8)
        f1, f2, f3 = self.encoder(x)
        d2 = self.dec2(self.up2(f3) + f2)
        d1 = self.dec1(self.up1(d2) + f1)
        rain = self.head(d1)[..., :h, :w]
        return rainy - rain, [f1, f2, f3]

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        """Map a rainy batch (B, 3, H, W) in [0, 1] to the derained batch, clamped to [0, 1]."""
        return self.forward_features(rainy)[0].clamp(0, 1)


@register_model("rain_unet_s", task="derain", features=True)
def rain_unet_s() -> RainUNet:
    """The shipped student: about 0.4M parameters."""
    return RainUNet(widths=(32, 48, 64), depths=(2, 2, 2))


@register_model("rain_unet_l", task="derain", features=True)
def rain_unet_l() -> RainUNet:
    """The reconstruction teacher's size: several times the student."""
    return RainUNet(widths=(64, 96, 128), depths=(2, 3, 4))
