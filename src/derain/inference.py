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
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from derain.archs.streaks_vapour import StreaksVapourNet
from derain.archs.vapour import downscale, upsample
from derain.errors import DerainError
from derain.formation import unveil
from derain.paths import DEFAULT_MODEL, WORK_SIZE
from derain.weights import load_model as _load_weights

AUTO_TILE = 768  # pixels per side; keeps a 12-MP photo under 2 GiB peak (benchmarks/bench_models.py)
AUTO_UNTILED_PIXELS = 1024 * 1024  # smaller images run in one piece
DEFAULT_OVERLAP = 96  # px; seams of the shipped model: tests/test_inference.py
Progress = Callable[[int, int], None]  # (tiles done, tiles in all)


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
                 backend: str = "auto", work_size: int = WORK_SIZE, vapour: float | None = None) -> None:
        """`model` is a network, or an `OnnxRunner` of an .onnx file; `backend` auto runs a network
        on torch and a file on onnxruntime; `work_size` 0 runs every photo at full resolution;
        `vapour` is the share of the estimated vapour to remove (None: the model's default, which
        its metadata holds; models without a vapour branch remove none)."""
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

    def _amount(self, vapour: object) -> float:
        """A share of vapour to remove, checked: in [0, 1], and 0 unless the model has a vapour branch."""
        if isinstance(vapour, bool) or not isinstance(vapour, (int, float)) or not 0 <= vapour <= 1:
            raise DerainError(f"vapour must be a number from 0 (keep the veil) to 1 (remove all of it), got {vapour!r}")
        if vapour and self.veil is None:
            name = self.meta.get("name") or self.meta.get("arch") or "this model"
            raise DerainError(f"{name} has no vapour branch, so it cannot remove vapour (--vapour must be 0); "
                              "derain_streaks_vapour has one")
        return float(vapour)

    def _tile_size(self, h: int, w: int) -> int:
        if self.tile == "auto":
            return 0 if h * w <= AUTO_UNTILED_PIXELS else AUTO_TILE
        return int(self.tile)

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
        """Run the backend; broken weights (NaN) must fail loudly, not write a black image."""
        out = self.forward(batch)
        if not torch.isfinite(out).all():
            raise DerainError("the model's output is not finite (NaN or inf): its weights are broken")
        return out

    def restore(self, rgb: torch.Tensor, progress: Progress | None = None, vapour: float | None = None) -> torch.Tensor:
        """Derain a (3, H, W) float tensor in [0, 1]: at the working size if the photo is larger,
        tiled if large, and `vapour` of its veil removed (None: this derainer's amount).

        `progress(done, total)` is called after each tile, so a caller (the web page's progress
        bar) can report on a long photo, and stop it by raising.
        """
        amount = self.vapour if vapour is None else self._amount(vapour)
        veil_map = None
        if amount > 0:  # estimated on the rainy photo, whole
            veil_map = self.veil(downscale(rgb[None]))
            if not torch.isfinite(veil_map).all():
                raise DerainError("the model's output is not finite (NaN or inf): its weights are broken")
        out = self._streaks(rgb, progress)
        if veil_map is None:
            return out
        transmission, airlight = upsample(veil_map, rgb.shape[-2:])
        return unveil(out, transmission[0], airlight[0], amount).clamp_(0, 1)

    def _streaks(self, rgb: torch.Tensor, progress: Progress | None) -> torch.Tensor:
        """The streak pass over a (3, H, W) photo, at the working size if it is larger."""
        _, h, w = rgb.shape
        if not self.work_size or min(h, w) <= self.work_size:
            return self._tiled(rgb, progress)
        factor = self.work_size / min(h, w)
        small = F.interpolate(rgb[None], size=(max(1, round(h * factor)), max(1, round(w * factor))),
                              mode="bilinear", antialias=True, align_corners=False)
        change = self._tiled(small[0], progress)[None] - small
        return (rgb + F.interpolate(change, size=(h, w), mode="bilinear", align_corners=False)[0]).clamp_(0, 1)

    def _tiled(self, rgb: torch.Tensor, progress: Progress | None) -> torch.Tensor:
        """Run the network on a (3, H, W) tensor, in overlapping tiles if it is large."""
        _, h, w = rgb.shape
        tile = self._tile_size(h, w)
        if tile == 0 or (h <= tile and w <= tile):
            out = self._predict(rgb[None])[0]
            if progress:
                progress(1, 1)
            return out
        out = torch.zeros_like(rgb)
        weight = torch.zeros(1, h, w)
        ys, xs = _starts(h, tile, self.overlap, self.align), _starts(w, tile, self.overlap, self.align)
        done = 0
        for y in ys:
            for x in xs:
                th, tw = min(tile, h - y), min(tile, w - x)
                pred = self._predict(rgb[None, :, y:y + th, x:x + tw])[0]
                wy = _ramp(th, self.overlap, y > 0, y + th < h)
                wx = _ramp(tw, self.overlap, x > 0, x + tw < w)
                wt = wy[:, None] * wx[None, :]
                out[:, y:y + th, x:x + tw] += pred * wt
                weight[:, y:y + th, x:x + tw] += wt
                done += 1
                if progress:
                    progress(done, len(ys) * len(xs))
        return out / weight

    def remove(self, image: np.ndarray, progress: Progress | None = None, vapour: float | None = None) -> np.ndarray:
        """Derain an image array and return one of the same shape and dtype (alpha kept as is);
        `vapour`: the share of the estimated vapour to remove (None: this derainer's amount)."""
        arr = np.asarray(image)
        scale = _full_scale(arr)
        x = arr.astype(np.float32) / scale
        if x.ndim == 2:
            x = x[..., None]
        color = x[..., :3] if x.shape[2] >= 3 else np.repeat(x, 3, axis=2)
        rgb = torch.from_numpy(np.ascontiguousarray(color.transpose(2, 0, 1)))
        out = self.restore(rgb, progress, vapour).numpy().transpose(1, 2, 0)
        if x.shape[2] == 1:
            out = out.mean(axis=2, keepdims=True)
        elif x.shape[2] == 4:
            out = np.concatenate([out, x[..., 3:]], axis=2)
        out = out.reshape(arr.shape)
        if scale > 1:
            return np.round(out * scale).astype(arr.dtype)
        return out.astype(arr.dtype)


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
    if not np.isfinite(arr).all():
        raise DerainError("the input image is not finite: it holds NaN or inf values")
    low, high = float(arr.min()), float(arr.max())
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
               vapour: float | None = None, **weights_kwargs: Any) -> Derainer:
    """Load a shipped model (by name), a peer (e.g. 'prenet_rain100l'), a weight file or an .onnx
    file (`derain export onnx`, e.g. its int8 version), ready to derain; `vapour`: the share of
    the estimated vapour it removes (None: the model's default)."""
    if str(name_or_path).endswith(".onnx"):
        from derain.onnx_backend import OnnxRunner

        if not os.path.isfile(name_or_path):
            raise DerainError(f"{name_or_path}: no such file")
        runner = OnnxRunner(name_or_path)
        return Derainer(runner, runner.meta, device=device, tile=tile, overlap=overlap, bf16=bf16, backend=backend,
                        work_size=work_size, vapour=vapour)
    model, meta = _load_weights(name_or_path, **weights_kwargs)
    meta = {"name": Path(name_or_path).stem, **meta}  # what the user called it, for messages
    return Derainer(model, meta, device=device, tile=tile, overlap=overlap, bf16=bf16, backend=backend,
                    work_size=work_size, vapour=vapour)
