"""The inference engine: any image array in, derained array of the same kind out.

`Derainer.remove` accepts what users hold (uint8 / uint16 / float in [0, 1], any byte order, gray,
RGB or RGBA), refuses in one line what is not an image (0-255 floats, NaN, no pixels), converts
to a float RGB tensor, runs the network tile by tile when the image is large, and converts back,
carrying alpha through untouched. Tiles overlap and are blended with weights that ramp linearly
across the overlap, so seams do not show and peak memory is bounded by the tile size, not the
photo size.

Rain is the size the camera makes it: on a 12-MP photo a streak is many times longer and wider
than on the few-hundred-pixel photos every derainer trains on. So a photo whose shorter side
exceeds the working size (`work_size`) is derained at that size, and the change the network made
there (the rain it removed) is scaled up and applied to the photo at full resolution: the rain
is seen at the scale it was learnt at, the photo's own detail is never resampled, and the network
runs on a fraction of the pixels.

A streaks-and-vapour model (`archs.streaks_vapour`) runs in two passes: its vapour branch once on
the whole photo squeezed to 128x128 (the veil is a property of the scene: every tile shares it),
its streak branch as above; the veil is then thinned by the amount the user asks for (`vapour`,
0 to 1) at full resolution (`derain.formation.unveil`). At 0 the vapour pass is skipped.

A model may run its streak pass on mirrored copies of each tile and average them, mirrored back
(`flips`: 1, 2 or 4 copies; the geometric self-ensemble of EDSR): rain mirrored is still rain,
so each copy is a second opinion on thin streaks. The copies are padded to the network's grid
first, so that each sees the same grid as the tile and tiles still agree on their overlaps.

So that the engine's own work stays small beside the network's (issue 31), nothing full-size is
made that the result does not need: the photo is read in float a band of rows or a tile at a time
(a float32 photo in place), both downscales come from one pass over it, the change and the veil
map are upsampled a band at a time and applied there, tiles add into one buffer with weights
divided beforehand, and each band is converted to the caller's dtype straight into the result.
The finiteness checks look at the small tensors only (the network's outputs, the veil map) and
at the input's min and max.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from derain.archs.blocks import pad_to_multiple
from derain.archs.streaks_vapour import StreaksVapourNet
from derain.archs.vapour import SIZE
from derain.errors import DerainError
from derain.formation import unveil
from derain.paths import DEFAULT_MODEL, WORK_SIZE
from derain.weights import load_model as _load_weights

AUTO_UNTILED_PIXELS = 1024 * 1024  # smaller network inputs run in one piece
AUTO_TILE = 768  # px: the shortest side of an automatic tile (smaller tiles spend too much on their overlap)
FAST_TILE_PIXELS = 2_400_000  # larger tiles run slower per pixel (cache): torch 0.51 MP/s at 4.2 MP, 0.57 at 2.1
MEMORY_BUDGET_MIB = 2048  # peak resident memory of a 12-MP photo at full resolution (issue 31)
PROCESS_MIB = 400  # torch, onnxruntime and the model, before any photo
TILE_MIB_PER_MP = {"torch": 210, "onnx": 150}  # the network's peak per megapixel of tile (fp32, shipped model)
DEFAULT_OVERLAP = 96  # px; seams of the shipped model: tests/test_inference.py
BAND_PIXELS = 1 << 18  # pixels per band of rows in the full-resolution passes: a few MB, in cache
Progress = Callable[[int, int], None]  # (tiles done, tiles in all)
FLIPS = {1: [()], 2: [(), (-1,)], 4: [(), (-1,), (-2,), (-2, -1)]}  # copies: the axes each is mirrored on


def _ramp(length: int, overlap: int, ramp_start: bool, ramp_end: bool) -> torch.Tensor:
    """1-D blending weight: 1 in the middle, linear ramps over the overlap on sides with a neighbour.
    The outer quarter of the overlap weighs nothing: there a tile's output sees its own zero-padded
    border, which the neighbour, whose middle it is, does not."""
    w = torch.ones(length)
    n = min(overlap, length)
    margin = n // 4
    ramp = ((torch.arange(n, dtype=torch.float32) + 0.5 - margin) / (n - margin)).clamp(min=0)
    if ramp_start:
        w[:n] = torch.minimum(w[:n], ramp)
    if ramp_end:
        w[length - n:] = torch.minimum(w[length - n:], ramp.flip(0))
    return w


def _starts(size: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Tile origins along one axis, all multiples of `align`; the last tile reaches the edge.

    Networks that downsample by `align` only give the same output for a shifted input when the
    shift is a multiple of `align`, so origins snap to that grid (the last tile may be shorter).
    """
    if size <= tile:
        return [0]
    stride = max(align, (tile - overlap) // align * align)
    last = -(-(size - tile) // align) * align
    return [*range(0, last, stride), last]


def _blend(size: int, tile: int, overlap: int, align: int) -> list[tuple[int, torch.Tensor]]:
    """(origin, weight) of each tile along one axis, the weights already divided by their sum, so
    tiles add straight into the result. The blend is separable: the sum over a grid of tiles of
    `wy * wx` is the product of the sums along each axis."""
    starts = _starts(size, tile, overlap, align)
    ramps = [_ramp(min(tile, size - s), overlap, s > 0, s + tile < size) for s in starts]
    total = torch.zeros(size)
    for s, ramp in zip(starts, ramps):
        total[s:s + len(ramp)] += ramp
    return [(s, ramp / total[s:s + len(ramp)]) for s, ramp in zip(starts, ramps)]


def _even_tile(size: int, count: int, overlap: int, align: int) -> int:
    """The length of `count` tiles that cover `size` with strides on the grid and overlaps of `overlap`."""
    stride = -(-max(size - overlap, 1) // count)
    return min(size, -(-stride // align) * align + overlap)


def plan_tiles(h: int, w: int, overlap: int, align: int, max_pixels: int) -> tuple[int, int]:
    """Tile height and width for an h x w network input: of the grids of even tiles holding at most
    `max_pixels` each (and at least AUTO_TILE px per side), the one whose tiles hold the fewest
    pixels in all, then the one with the fewest tiles. The overlap stays what the seams need (96 px
    for the shipped model: at 64 its seams reach 20/255, tests/test_inference.py), and tiles grow
    instead, so it costs little: a 4000x3000 photo runs as 3 x 2 tiles of 1400 x 1552, 1.09x its
    pixels (768-px tiles cost 1.47x)."""
    def seen(size: int, tile: int) -> int:
        return sum(min(tile, size - s) for s in _starts(size, tile, overlap, align))

    def lengths(size: int) -> list[int]:
        out = [size]
        while (tile := _even_tile(size, len(out) + 1, overlap, align)) >= AUTO_TILE and tile - overlap > overlap:
            out.append(tile)
        return out

    grid = [(th, tw) for th in lengths(h) for tw in lengths(w)]
    fits = [(seen(h, th) * seen(w, tw), len(_starts(h, th, overlap, align)) * len(_starts(w, tw, overlap, align)),
             th, tw) for th, tw in grid if th * tw <= max_pixels]
    if fits:
        return min(fits)[2:]
    return min(grid, key=lambda t: t[0] * t[1])  # a budget below one tile: the smallest tiles


def resolve_device(name: str) -> torch.device:
    """The device `name` stands for, checked once before any image: one this engine runs on, and present."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise DerainError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from exc
    present = {"cpu": True, "mps": torch.backends.mps.is_available(),
               "cuda": torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()}
    if device.type not in present:  # e.g. meta: accepted by torch, useless for images
        raise DerainError(f"unsupported device {name!r}; use cpu, cuda, cuda:N or auto")
    if not present[device.type]:
        raise DerainError(f"device {name!r} requested but this machine has no such device")
    return device


class Derainer:
    """A loaded model plus the policy to run it (device, tiling, precision)."""

    def __init__(self, model: nn.Module | Callable[[torch.Tensor], torch.Tensor], meta: dict[str, Any] | None = None,
                 device: str = "cpu", tile: int | str = "auto", overlap: int = DEFAULT_OVERLAP, bf16: bool = False,
                 backend: str = "auto", work_size: int = WORK_SIZE, vapour: float | None = None,
                 flips: int | None = None) -> None:
        """`model` is a network, or an `OnnxRunner` of an .onnx file; `backend` auto runs a network
        on torch and a file on onnxruntime; `work_size` 0 runs every photo at full resolution;
        `vapour` is the share of the estimated vapour to remove (None: the model's default, which
        its metadata holds; models without a vapour branch remove none); `flips` the number of
        mirrored copies the streak pass averages (1, 2 or 4; None: the model's default, 1 if its
        metadata has none)."""
        self.device = resolve_device(device)
        if not isinstance(work_size, int) or work_size < 0:
            raise DerainError(f"work size must be 0 (full resolution) or a number of pixels, got {work_size!r}")
        self.work_size = work_size
        if tile != "auto" and (not isinstance(tile, int) or tile < 0):
            raise DerainError(f"tile must be 'auto', 0 (no tiling) or a positive size, got {tile!r}")
        if overlap < 0:
            raise DerainError(f"overlap must be >= 0, got {overlap}")
        size = AUTO_TILE if tile == "auto" else tile
        if size and size <= 2 * overlap:
            raise DerainError(f"tile ({size}) must be larger than twice the overlap ({overlap})")
        self.align: int = getattr(model, "align", 1)
        if size and size < self.align:  # tile origins step by the grid: smaller tiles would leave gaps
            raise DerainError(f"tile ({size}) must be at least the network's grid ({self.align} px)")
        if backend not in ("auto", "torch", "onnx"):
            raise DerainError(f"unknown backend {backend!r}; use torch or onnx")
        onnx = backend == "onnx" or not isinstance(model, nn.Module)
        if onnx and (self.device.type != "cpu" or bf16):
            raise DerainError("the onnx backend runs on the CPU in float32 (drop --device/--bf16)")
        self.meta = meta or {}
        self.tile, self.overlap, self.bf16 = tile, overlap, bf16
        self.tile_mib_per_mp = TILE_MIB_PER_MP["onnx" if onnx else "torch"]
        # The backend is any callable from a batch to its derained batch (the streak pass of a
        # streaks-and-vapour model), plus `veil` from downscaled photos to veil maps if the model
        # has a vapour branch; tiling and the inverse of the veil stay here.
        self.forward: Callable[[torch.Tensor], torch.Tensor]
        self.veil: Callable[[torch.Tensor], torch.Tensor] | None = None
        if not isinstance(model, nn.Module):
            if backend == "torch":
                raise DerainError("an .onnx model runs on onnxruntime only (drop --backend torch)")
            self.forward = model
            self.veil = model.veil if getattr(model, "has_vapour", False) else None
        else:
            self.model = model.eval().to(self.device, memory_format=torch.channels_last)
            self.streaks = model.streaks if isinstance(model, StreaksVapourNet) else self.model
            self.forward = self._run
            if isinstance(model, StreaksVapourNet):
                self.veil = self._run_vapour
            if onnx:
                from derain.onnx_backend import OnnxRunner, export_bytes

                runner = OnnxRunner(export_bytes(self.model, self.meta))
                self.forward, self.veil = runner, runner.veil if runner.has_vapour else None
        self.vapour = self._amount(self.meta.get("vapour", 0.0) if vapour is None else vapour)
        self.flips = self.meta.get("flips", 1) if flips is None else flips
        if type(self.flips) is not int or self.flips not in FLIPS:  # not True, not 2.0
            raise DerainError(f"flips must be 1, 2 or 4 (mirrored copies to average), got {self.flips!r}")

    def _amount(self, vapour: object) -> float:
        """A share of vapour to remove, checked: in [0, 1], and 0 unless the model has a vapour branch."""
        if isinstance(vapour, bool) or not isinstance(vapour, (int, float)) or not 0 <= vapour <= 1:
            raise DerainError(f"vapour must be a number from 0 (keep the veil) to 1 (remove all of it), got {vapour!r}")
        if vapour and self.veil is None:
            name = self.meta.get("name") or self.meta.get("arch") or "this model"
            raise DerainError(f"{name} has no vapour branch, so it cannot remove vapour (--vapour must be 0); "
                              "derain_streaks_vapour has one")
        return float(vapour)

    def _tiles(self, h: int, w: int) -> tuple[int, int] | None:
        """Tile height and width for an h x w network input, None to run it in one piece. Automatic
        tiles are as large as the memory left to the network allows (by backend: `TILE_MIB_PER_MP`;
        the photo's own buffers, about 30 bytes a pixel, come first) and no larger than
        FAST_TILE_PIXELS."""
        if self.tile == "auto":
            if h * w <= AUTO_UNTILED_PIXELS:
                return None
            left = MEMORY_BUDGET_MIB - PROCESS_MIB - h * w * 30 / 2**20
            budget = min(FAST_TILE_PIXELS, int(left / self.tile_mib_per_mp * 1e6))
            return plan_tiles(h, w, self.overlap, self.align, budget)
        tile = int(self.tile)
        return None if tile == 0 or (h <= tile and w <= tile) else (tile, tile)

    def works_small(self, h: int, w: int) -> bool:
        """Whether an h x w photo is derained at the working size (its change then applied at full size)."""
        return bool(self.work_size) and min(h, w) > self.work_size

    @torch.inference_mode()
    def _run(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device).contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.streaks(x).float().clamp(0, 1).cpu()

    @torch.inference_mode()
    def _run_vapour(self, small: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.model.vapour(small.to(self.device)).float().cpu()

    def _predict(self, batch: torch.Tensor) -> torch.Tensor:
        """Run the backend (on `flips` mirrored copies, averaged); broken weights (NaN) must fail
        loudly, not write a black image."""
        if self.flips == 1:
            out = self.forward(batch)
        else:
            h, w = batch.shape[-2:]
            grid, _ = pad_to_multiple(batch, self.align)
            out = sum(self.forward(grid.flip(axes)).flip(axes) if axes else self.forward(grid)
                      for axes in FLIPS[self.flips])[..., :h, :w] / self.flips
        if not torch.isfinite(out).all():
            raise DerainError("the model's output is not finite (NaN or inf): its weights are broken")
        return out

    def restore(self, rgb: torch.Tensor, progress: Progress | None = None, vapour: float | None = None) -> torch.Tensor:
        """Derain a (3, H, W) float tensor in [0, 1]: at the working size if the photo is larger,
        tiled if large, and `vapour` of its veil removed (None: this derainer's amount).

        `progress(done, total)` is called after each tile, so a caller (the web page's progress
        bar) can report on a long photo, and stop it by raising.
        """
        out = torch.empty(rgb.shape)

        def keep(y0: int, y1: int, band: torch.Tensor) -> None:
            out[:, y0:y1].copy_(band.permute(2, 0, 1))

        self._derain(_Photo(rgb[None], 1.0), keep, progress, vapour)
        return out

    def remove(self, image: np.ndarray, progress: Progress | None = None, vapour: float | None = None) -> np.ndarray:
        """Derain an image array and return one of the same shape and dtype (alpha kept as is);
        `vapour`: the share of the estimated vapour to remove (None: this derainer's amount).

        The photo is read in float only a band or a tile at a time and the result written straight
        into the returned array, rounded once: a 12-MP uint8 photo is never held in float whole."""
        arr = np.asarray(image)
        scale = _full_scale(arr)
        native = arr.astype(arr.dtype.newbyteorder("=")) if not arr.dtype.isnative else arr  # torch: native only
        pixels = torch.from_numpy(native.reshape(*arr.shape[:2], -1))  # (H, W, C) view
        out = np.empty(native.shape, native.dtype)
        result = torch.from_numpy(out.reshape(pixels.shape))
        if pixels.shape[2] == 4:
            result[..., 3] = pixels[..., 3]
        color = result[..., :3]

        def write(y0: int, y1: int, band: torch.Tensor) -> None:
            if color.shape[2] == 1:
                band = band.mean(dim=2, keepdim=True)
            if scale > 1:
                band.mul_(scale).round_()
            color[y0:y1].copy_(band)

        self._derain(_Photo(pixels.permute(2, 0, 1)[None], scale), write, progress, vapour)
        return out if native is arr else out.astype(arr.dtype)

    def _derain(self, photo: _Photo, write: Callable[[int, int, torch.Tensor], None], progress: Progress | None,
                vapour: float | None) -> None:
        """The engine: the vapour pass on the photo squeezed to SIZE x SIZE, the streak pass at the
        working size (its change upsampled) or at the photo's own size, then the result a band of
        rows at a time, (rows, W, 3) float in [0, 1] that `write` may change, from the top."""
        amount = self.vapour if vapour is None else self._amount(vapour)
        h, w = photo.size
        factor = self.work_size / min(h, w) if self.works_small(h, w) else 0.0
        small_size = (max(1, round(h * factor)), max(1, round(w * factor)))
        smalls = _downscale(photo, ([(SIZE, SIZE)] if amount > 0 else []) + ([small_size] if factor else []))
        veil = None
        if amount > 0:  # estimated on the rainy photo, whole
            veil_map = self.veil(smalls.pop(0))
            if not torch.isfinite(veil_map).all():
                raise DerainError("the model's output is not finite (NaN or inf): its weights are broken")
            veil = _Rows(veil_map, (h, w))
        if factor:
            small = smalls[0]
            change = self._network(_Photo(small, 1.0), progress) - small[0].permute(1, 2, 0)
            rows = _Rows(change.permute(2, 0, 1)[None], (h, w))

            def band(y0: int, y1: int) -> torch.Tensor:
                return rows(y0, y1).add_(photo.rows(y0, y1)).clamp_(0, 1)
        else:
            full = self._network(photo, progress)

            def band(y0: int, y1: int) -> torch.Tensor:
                return full[y0:y1].clamp(0, 1)
        step = max(1, BAND_PIXELS // w)
        for y0 in range(0, h, step):
            y1 = min(h, y0 + step)
            out = band(y0, y1)
            if veil is not None:
                v = veil(y0, y1)
                out = unveil(out, v[..., :1], v[..., 1:], amount).clamp_(0, 1)
            write(y0, y1, out)

    def _network(self, photo: _Photo, progress: Progress | None) -> torch.Tensor:
        """The streak pass over a photo at its own size, in overlapping tiles if it is large:
        (H, W, 3) float (untiled, the backend's output as it is: it may be the photo itself)."""
        h, w = photo.size
        tiles = self._tiles(h, w)
        if tiles is None:
            out = self._predict(photo.crop(0, h, 0, w))[0].permute(1, 2, 0)
            if progress:
                progress(1, 1)
            return out
        out = torch.zeros(h, w, 3)
        rows, cols = _blend(h, tiles[0], self.overlap, self.align), _blend(w, tiles[1], self.overlap, self.align)
        done = 0
        for y, wy in rows:
            for x, wx in cols:
                th, tw = len(wy), len(wx)
                pred = self._predict(photo.crop(y, y + th, x, x + tw))[0].permute(1, 2, 0)
                out[y:y + th, x:x + tw].addcmul_(pred, wy[:, None, None] * wx[None, :, None])
                done += 1
                if progress:
                    progress(done, len(rows) * len(cols))
        return out


class _Photo:
    """The caller's pixels as the engine reads them: float32 RGB in [0, 1], converted only where
    read (a band of rows, a tile), so an integer photo is never held in float whole, and a float32
    one not copied at all."""

    def __init__(self, pixels: torch.Tensor, scale: float) -> None:
        """`pixels`: (1, C, H, W), C 1 (gray), 3 or 4 (alpha, never read), any layout and dtype;
        `scale`: the value of white."""
        self.pixels = pixels[:, :3] if pixels.shape[1] >= 3 else pixels.expand(-1, 3, -1, -1)
        self.scale = scale
        self.size: tuple[int, int] = tuple(pixels.shape[-2:])

    def crop(self, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        """(1, 3, y1 - y0, x1 - x0) float32: a view when the photo is float32 already."""
        part = self.pixels[:, :, y0:y1, x0:x1]
        if part.dtype == torch.float32:
            return part
        part = part.to(torch.float32)
        return part.div_(self.scale) if self.scale != 1 else part

    def rows(self, y0: int, y1: int) -> torch.Tensor:
        """Rows y0 to y1, (rows, W, 3)."""
        return self.crop(y0, y1, 0, self.size[1])[0].permute(1, 2, 0)


def _downscale(photo: _Photo, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """The photo resized to each of `sizes` as F.interpolate(bilinear, antialias) resizes it (the
    working-size copy, the vapour pass's SIZE x SIZE), read once: each band of rows is narrowed
    first (torch's antialiased resize is separable, so this is its own first pass), then the
    narrow copies are resized in height. (1, 3, h, w) channels-last tensors."""
    if not sizes:
        return []
    h, w = photo.size
    narrow = [torch.empty(1, 3, h, sw).contiguous(memory_format=torch.channels_last) for _, sw in sizes]
    step = max(1, BAND_PIXELS // w)
    for y0 in range(0, h, step):
        y1 = min(h, y0 + step)
        band = photo.crop(y0, y1, 0, w)
        for buf, (_, sw) in zip(narrow, sizes):
            buf[:, :, y0:y1] = F.interpolate(band, size=(y1 - y0, sw), mode="bilinear", antialias=True,
                                             align_corners=False)
    return [F.interpolate(buf, size=size, mode="bilinear", antialias=True, align_corners=False)
            for buf, size in zip(narrow, sizes)]


class _Rows:
    """A small map (the working size's change, the veil map) upsampled bilinearly to (H, W) as
    F.interpolate(bilinear, align_corners=False) does it, a band of rows at a time: the full-size
    map is never made. Widened once (h x W), then each output row is a blend of two of those."""

    def __init__(self, small: torch.Tensor, size: tuple[int, int]) -> None:
        """`small`: (1, C, h, w); `size`: (H, W)."""
        h = small.shape[2]
        wide = F.interpolate(small.contiguous(memory_format=torch.channels_last), size=(h, size[1]),
                             mode="bilinear", align_corners=False)
        self.rows = wide[0].permute(1, 2, 0).contiguous()  # (h, W, C)
        self.steps = torch.zeros_like(self.rows)  # to the next row; none past the last one
        torch.sub(self.rows[1:], self.rows[:-1], out=self.steps[:-1])
        # where each output row falls between the input rows, in float32 like torch's kernel
        src = ((torch.arange(size[0], dtype=torch.float32) + 0.5) * (h / size[0]) - 0.5).clamp_(min=0)
        self.index = src.long().clamp_(max=h - 1)
        self.frac = (src - self.index)[:, None, None]

    def __call__(self, y0: int, y1: int) -> torch.Tensor:
        """Rows y0 to y1 of the upsampled map, (rows, W, C), a new tensor."""
        index = self.index[y0:y1]
        return self.rows.index_select(0, index).addcmul_(self.steps.index_select(0, index), self.frac[y0:y1])


def _full_scale(arr: np.ndarray) -> float:
    """The value of white in `arr`, once it is known to be an image this engine can derain: the
    caller's mistake (0-255 floats, NaN, no pixels) is named on one line, never clipped to white,
    blamed on the model's weights or left to torch's error about channels."""
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise DerainError(f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got shape {arr.shape}")
    if arr.size == 0:
        raise DerainError(f"empty image (shape {arr.shape}): nothing to derain")
    dtype = arr.dtype.newbyteorder("=")  # the values count, not their byte order (big-endian TIFF readers)
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if not np.issubdtype(dtype, np.floating):
        raise DerainError(f"unsupported image dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")
    low, high = float(arr.min()), float(arr.max())  # NaN carries through both, inf reaches one
    if not (math.isfinite(low) and math.isfinite(high)):
        raise DerainError("the input image is not finite: it holds NaN or inf values")
    if low < 0 or high > 1:
        raise DerainError(f"float images must be in [0, 1], this one spans [{low:g}, {high:g}] "
                          "(divide 0-255 values by 255)")
    return 1.0


def parse_tile(text: str) -> int | str:
    """The `--tile` option: 'auto' or a non-negative number of pixels."""
    if text == "auto":
        return text
    try:
        size = int(text)  # str.isdigit() would also accept digits int() refuses, such as '²'
    except ValueError:
        size = -1
    if size < 0:
        raise DerainError(f"--tile must be a number of pixels, 0 or 'auto', got {text!r}")
    return size


def load_model(name_or_path: str | os.PathLike[str] = DEFAULT_MODEL, device: str = "cpu", tile: int | str = "auto",
               overlap: int = DEFAULT_OVERLAP, bf16: bool = False, backend: str = "auto", work_size: int = WORK_SIZE,
               vapour: float | None = None, flips: int | None = None, **weights_kwargs: Any) -> Derainer:
    """Load a shipped model (by name), a peer (e.g. 'prenet_rain100l'), a weight file or an .onnx
    file (`derain export onnx`, e.g. its int8 version), ready to derain; `vapour`: the share of
    the estimated vapour it removes, `flips`: the mirrored copies it averages (None: the model's
    defaults)."""
    if str(name_or_path).endswith(".onnx"):
        from derain.onnx_backend import OnnxRunner

        if not os.path.isfile(name_or_path):
            raise DerainError(f"{name_or_path}: no such file")
        runner = OnnxRunner(name_or_path)
        return Derainer(runner, runner.meta, device=device, tile=tile, overlap=overlap, bf16=bf16, backend=backend,
                        work_size=work_size, vapour=vapour, flips=flips)
    model, meta = _load_weights(name_or_path, **weights_kwargs)
    meta = {"name": Path(name_or_path).stem, **meta}  # what the user called it, for messages
    return Derainer(model, meta, device=device, tile=tile, overlap=overlap, bf16=bf16, backend=backend,
                    work_size=work_size, vapour=vapour, flips=flips)
