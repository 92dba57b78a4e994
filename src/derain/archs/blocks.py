"""Building blocks shared by the networks: the project's own (student and teachers) and the peers'."""

from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    """conv-ReLU-conv with an identity skip; the workhorse of every level."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class Encoder(nn.Module):
    """Three-level encoder working at 1/2, 1/4 and 1/8 of the input resolution.

    The input is folded into channels by a pixel-unshuffle first, so no convolution ever runs at
    full resolution: that is where PReNet spends its time. Returns one feature map per level, the
    maps distillation aligns between teachers and student.
    """

    def __init__(self, widths: tuple[int, int, int], depths: tuple[int, int, int]) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.stem = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, w1, 3, 1, 1), nn.ReLU(inplace=True))
        self.level1 = nn.Sequential(*[ResBlock(w1) for _ in range(depths[0])])
        self.down2 = nn.Sequential(nn.Conv2d(w1, w2, 3, 2, 1), nn.ReLU(inplace=True))
        self.level2 = nn.Sequential(*[ResBlock(w2) for _ in range(depths[1])])
        self.down3 = nn.Sequential(nn.Conv2d(w2, w3, 3, 2, 1), nn.ReLU(inplace=True))
        self.level3 = nn.Sequential(*[ResBlock(w3) for _ in range(depths[2])])
        self.widths = widths

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f1 = self.level1(self.stem(x))
        f2 = self.level2(self.down2(f1))
        f3 = self.level3(self.down3(f2))
        return [f1, f2, f3]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad H and W up to a multiple of `multiple`; returns the padded tensor and the pads."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = nn.functional.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (ph, pw)


def conv_act(cin: int, cout: int, act: nn.Module) -> nn.Sequential:
    """3x3 conv and an activation: the unit of the peers' recurrent derainers (PReNet, BRN)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), act)


def peer_res_block(channels: int) -> nn.Sequential:
    """conv-ReLU-conv-ReLU, the residual body of PReNet and BRN (the skip is added by the caller);
    its layout names the keys of their released weights."""
    return nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU())
