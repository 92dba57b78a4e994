"""RainClassifier: the recognition teacher (connected task A, rainy vs rain-free scenes).

It reuses the derainers' `Encoder`, so its features live at the same three scales (1/2, 1/4, 1/8)
as the student's and can be distilled through 1x1 adapters. The head pools every level, not only
the deepest: thin streaks are a fine-scale cue that the 1/8 map alone would wash out.
"""

from __future__ import annotations

import torch
from torch import nn

from derain.archs import register_model
from derain.archs.blocks import Encoder, pad_to_multiple


class RainClassifier(nn.Module):
    """Encoder + global average pooling of the three levels + a linear layer -> one logit (rainy)."""

    def __init__(self, widths: tuple[int, int, int] = (32, 64, 96), depths: tuple[int, int, int] = (1, 2, 2)) -> None:
        super().__init__()
        self.encoder = Encoder(widths, depths)
        self.head = nn.Linear(sum(widths), 1)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the logit (B,) and the encoder features at 1/2, 1/4, 1/8."""
        x, _ = pad_to_multiple(x, 8)
        feats = self.encoder(x)
        pooled = torch.cat([f.mean(dim=(2, 3)) for f in feats], dim=1)
        return self.head(pooled)[:, 0], feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit that the (B, 3, H, W) batch in [0, 1] shows rain (apply a sigmoid for a probability)."""
        return self.forward_features(x)[0]


@register_model("rain_classifier", task="classify", features=True)
def rain_classifier() -> RainClassifier:
    """The recognition teacher at the size used by the training configs."""
    return RainClassifier()
