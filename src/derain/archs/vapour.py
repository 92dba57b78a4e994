"""VapourNet: the veil of a whole image (transmission and airlight) on a coarse grid.

Vapour is the light of many distant drops: it varies with depth across the scene, not from pixel
to pixel, so it is estimated once per image from a downscaled copy (`SIZE` x `SIZE`, whatever the
photo's size and aspect) and given as a `GRID` x `GRID` map that the caller upsamples bilinearly:
the veil is smooth by construction, and every tile of a large photo shares it. Context comes from
a spatial pyramid of pooled features (1, 2, 4 and `GRID` cells per side, as the vapour branch of
Wang et al., ECCV 2020), the airlight from the whole image. The encoder is the student's, so it
can start from the distilled student's (the real-data representation of task transfer).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from derain.archs import register_model
from derain.archs.blocks import Encoder
from derain.formation import MIN_TRANSMISSION

SIZE = 128  # px per side of the downscaled image the veil is estimated on
GRID = 8  # cells per side of the veil map
POOLS = (1, 2, 4, GRID)  # the pyramid's cells per side
FEATURES = SIZE // 8  # px per side of the encoder's deepest map; pooled with fixed windows, so an export has no
# adaptive pooling (which ONNX cannot express on a size it does not know)


class VapourNet(nn.Module):
    """Image -> veil map (B, 4, GRID, GRID): transmission in [MIN_TRANSMISSION, 1], then airlight RGB."""

    def __init__(self, widths: tuple[int, int, int] = (32, 48, 64), depths: tuple[int, int, int] = (2, 2, 2),
                 branch: int = 16) -> None:
        super().__init__()
        w3 = widths[2]
        self.encoder = Encoder(widths, depths)
        self.pyramid = nn.ModuleList(nn.Sequential(nn.Conv2d(w3, branch, 1), nn.ReLU(inplace=True)) for _ in POOLS)
        self.fuse = nn.Sequential(nn.Conv2d(w3 + branch * len(POOLS), w3, 3, 1, 1), nn.ReLU(inplace=True))
        self.transmission = nn.Conv2d(w3, 1, 1)
        self.airlight = nn.Sequential(nn.Linear(w3, 32), nn.ReLU(inplace=True), nn.Linear(32, 3))
        # Start from "no veil" (T about 0.98): the untrained branch leaves the image as it is.
        nn.init.zeros_(self.transmission.weight)
        nn.init.constant_(self.transmission.bias, 4.0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Veil map of a (B, 3, H, W) batch in [0, 1]; other sizes than SIZE x SIZE are resized
        here (the engine resizes with antialiasing before, so an export sees SIZE only)."""
        if image.shape[-2:] != (SIZE, SIZE):
            image = F.interpolate(image, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
        features = self.encoder(image)[2]
        grid = F.avg_pool2d(features, FEATURES // GRID)
        context = [F.interpolate(branch(F.avg_pool2d(features, FEATURES // cells)), size=(GRID, GRID),
                                 mode="bilinear", align_corners=False)
                   for branch, cells in zip(self.pyramid, POOLS)]
        fused = self.fuse(torch.cat([grid, *context], dim=1))
        transmission = MIN_TRANSMISSION + (1.0 - MIN_TRANSMISSION) * torch.sigmoid(self.transmission(fused))
        airlight = torch.sigmoid(self.airlight(features.mean(dim=(2, 3))))
        return torch.cat([transmission, airlight[:, :, None, None].expand(-1, -1, GRID, GRID)], dim=1)


def downscale(image: torch.Tensor) -> torch.Tensor:
    """The copy of a (B, 3, H, W) batch the veil is estimated on (antialiased: streaks average out
    into the light they add, instead of aliasing)."""
    return F.interpolate(image, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)


def upsample(veil_map: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(transmission (B, 1, H, W), airlight (B, 3, H, W)) of a veil map at a photo's size."""
    full = F.interpolate(veil_map, size=size, mode="bilinear", align_corners=False)
    return full[:, :1], full[:, 1:]


@register_model("vapour_s", task="vapour")
def vapour_s() -> VapourNet:
    """The shipped vapour branch: the student's encoder and a small pyramid head."""
    return VapourNet()
