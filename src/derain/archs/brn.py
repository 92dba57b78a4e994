"""BRN: Bilateral Recurrent Network (Ren et al., "Single Image Deraining Using Bilateral Recurrent
Network", IEEE TIP 2020).

Re-implemented so that the authors' released state dicts (`BRN_*.pth`, repository csdwren/RecDerain)
load unchanged: module names follow the official `BRN` class of its `generator.py`. Two PReNet-like
recurrent branches run side by side at full resolution, one stage after the other:

- the rain branch sees the input and its previous rain estimate (6 channels, the input itself at
  the first stage), and predicts the rain layer;
- the image branch sees the input, its previous background estimate and the rain layer this stage
  just predicted (9 channels), and predicts the background directly (no residual on the input).

The two convolutional LSTMs are "bilateral": each branch's gates also read the other branch's
hidden state (rain: its own and the image branch's previous one; image: its own and the rain
branch's new one), which is how the two layers inform each other.
"""

from __future__ import annotations

import torch
from torch import nn

from derain.archs import register_model
from derain.archs.blocks import conv_act, peer_res_block

RAIN_BLOCKS_USED = 3  # the official forward runs only res_conv1_r..res_conv3_r


class BRN(nn.Module):
    """Bilateral recurrent derainer; `stages` is the official `recurrent_iter` (8 in the authors'
    training and test scripts)."""

    def __init__(self, stages: int = 8, channels: int = 32) -> None:
        super().__init__()
        c = channels
        self.stages = stages
        # image (background) branch: input, previous background, new rain layer -> background
        self.conv0 = conv_act(9, c, nn.ReLU())
        for k in range(1, 6):
            self.add_module(f"res_conv{k}", peer_res_block(c))
        self.conv_i = conv_act(3 * c, c, nn.Sigmoid())
        self.conv_f = conv_act(3 * c, c, nn.Sigmoid())
        self.conv_g = conv_act(3 * c, c, nn.Tanh())
        self.conv_o = conv_act(3 * c, c, nn.Sigmoid())
        self.conv = nn.Sequential(nn.Conv2d(c, 3, 3, 1, 1))
        # rain branch: input, previous rain layer -> rain layer
        self.conv0_r = conv_act(6, c, nn.ReLU())
        for k in range(1, 6):
            self.add_module(f"res_conv{k}_r", peer_res_block(c))
        self.conv_i_r = conv_act(3 * c, c, nn.Sigmoid())
        self.conv_f_r = conv_act(3 * c, c, nn.Sigmoid())
        self.conv_g_r = conv_act(3 * c, c, nn.Tanh())
        self.conv_o_r = conv_act(3 * c, c, nn.Sigmoid())
        self.conv_r = nn.Sequential(nn.Conv2d(c, 3, 3, 1, 1))
        # The official class builds five rain residual blocks but its forward uses three; the
        # released files hold all five. Keep the last two (so the files load strictly) but frozen:
        # nothing could train them.
        for k in range(RAIN_BLOCKS_USED + 1, 6):
            getattr(self, f"res_conv{k}_r").requires_grad_(False)

    @staticmethod
    def _lstm(z: torch.Tensor, cell: torch.Tensor,
              gates: tuple[nn.Module, nn.Module, nn.Module, nn.Module]) -> tuple[torch.Tensor, torch.Tensor]:
        """One convolutional LSTM step on the concatenated input `z`; returns (hidden, cell)."""
        conv_i, conv_f, conv_g, conv_o = gates
        cell = conv_f(z) * cell + conv_i(z) * conv_g(z)
        return conv_o(z) * torch.tanh(cell), cell

    @staticmethod
    def _residuals(x: torch.Tensor, blocks: list[nn.Module]) -> torch.Tensor:
        for block in blocks:
            x = torch.relu(block(x) + x)
        return x

    def forward_layers(self, rainy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The last stage's unclamped (background, rain layer), as the official forward returns them."""
        b, _, hgt, wid = rainy.shape
        h = rainy.new_zeros(b, self.conv_i[0].out_channels, hgt, wid)
        cell, h_r, cell_r = torch.zeros_like(h), torch.zeros_like(h), torch.zeros_like(h)
        gates = (self.conv_i, self.conv_f, self.conv_g, self.conv_o)
        gates_r = (self.conv_i_r, self.conv_f_r, self.conv_g_r, self.conv_o_r)
        blocks = [getattr(self, f"res_conv{k}") for k in range(1, 6)]
        blocks_r = [getattr(self, f"res_conv{k}_r") for k in range(1, RAIN_BLOCKS_USED + 1)]
        x, rain = rainy, rainy  # both branches start from the rainy image
        for _ in range(self.stages):
            z_r = torch.cat((self.conv0_r(torch.cat((rainy, rain), 1)), h_r, h), 1)
            h_r, cell_r = self._lstm(z_r, cell_r, gates_r)
            rain = self.conv_r(self._residuals(h_r, blocks_r))
            z = torch.cat((self.conv0(torch.cat((rainy, x, rain), 1)), h, h_r), 1)
            h, cell = self._lstm(z, cell, gates)
            x = self.conv(self._residuals(h, blocks))
        return x, rain

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        """Map a rainy batch (B, 3, H, W) in [0, 1] to the background of the last stage, clamped to
        [0, 1] as the official test script does (the image branch predicts it directly, unbounded)."""
        return self.forward_layers(rainy)[0].clamp(0, 1)


@register_model("brn", task="derain")
def brn(stages: int = 8, channels: int = 32) -> BRN:
    """The 8-stage BRN of the authors' released models."""
    return BRN(stages=stages, channels=channels)
