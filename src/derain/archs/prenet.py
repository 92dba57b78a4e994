"""PReNet: Progressive Recurrent Network (Ren et al., CVPR 2019).

Re-implemented so that the authors' released state dicts (`PReNet6_*.pth`, `PReNet_real1.pth`)
load unchanged: module names and layer order follow the official `PReNet` class. Each stage
concatenates the input with the current estimate, runs a convolutional LSTM and five residual
blocks at full resolution, and predicts the residual to add to the input.
"""

from __future__ import annotations

import torch
from torch import nn

from derain.archs import register_model
from derain.archs.blocks import conv_act, peer_res_block


class PReNet(nn.Module):
    """Recurrent derainer; `stages` is the official `recurrent_iter` (6, or 4 for the real model)."""

    def __init__(self, stages: int = 6, channels: int = 32) -> None:
        super().__init__()
        c = channels
        self.stages = stages
        self.conv0 = conv_act(6, c, nn.ReLU())
        for k in range(1, 6):
            self.add_module(f"res_conv{k}", peer_res_block(c))
        self.conv_i = conv_act(2 * c, c, nn.Sigmoid())
        self.conv_f = conv_act(2 * c, c, nn.Sigmoid())
        self.conv_g = conv_act(2 * c, c, nn.Tanh())
        self.conv_o = conv_act(2 * c, c, nn.Sigmoid())
        self.conv = nn.Sequential(nn.Conv2d(c, 3, 3, 1, 1))

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        """Map a rainy batch (B, 3, H, W) in [0, 1] to the derained estimate of the last stage."""
        b, _, hgt, wid = rainy.shape
        h = rainy.new_zeros(b, self.conv_i[0].out_channels, hgt, wid)
        cell = torch.zeros_like(h)
        x = rainy
        res_blocks = [getattr(self, f"res_conv{k}") for k in range(1, 6)]
        for _ in range(self.stages):
            x = self.conv0(torch.cat((rainy, x), 1))
            x = torch.cat((x, h), 1)
            i, f, g, o = self.conv_i(x), self.conv_f(x), self.conv_g(x), self.conv_o(x)
            cell = f * cell + i * g
            h = o * torch.tanh(cell)
            x = h
            for block in res_blocks:
                x = torch.relu(block(x) + x)
            x = self.conv(x) + rainy
        return x


@register_model("prenet", task="derain")
def prenet(stages: int = 6, channels: int = 32) -> PReNet:
    """The 6-stage PReNet of the paper (use `stages=4` for the authors' real-rain model)."""
    return PReNet(stages=stages, channels=channels)
