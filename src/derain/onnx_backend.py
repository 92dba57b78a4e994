"""ONNX export and the onnxruntime backend of the inference engine (extra `derain[onnx]`).

Export uses the TorchScript-based exporter (`dynamo=False`), which needs no onnxscript and gives
the same numbers as torch (STACK.md); exporter and opset are pinned here and recorded in the
file's metadata. Height and width are dynamic but must be multiples of the network's grid
(`align`): a traced `if` on the input size would freeze RainUNet's internal padding, so the
graph is traced at an aligned size and the runner pads like the network does before calling it.

`quantize_int8` is the fast CPU path: static int8 (uint8 activations, int8 per-channel weights,
QDQ), whose integer convolutions use the CPU's VNNI instructions. Activation ranges are measured
on calibration crops with rain rendered on them (derain.calibration), as the mean of each crop's
min and max (see docs/DECISIONS.md for the numbers); dynamic quantisation needs none but was
slower than fp32 here. On an x86 CPU without VNNI, onnxruntime adds pairs of uint8 x int8
products in 16 bits, which saturate: there the weights keep 7 bits (`reduce_range`), chosen by
the CPU that exports unless asked, and a runner warns when a file made for VNNI runs without it.
"""

from __future__ import annotations

import io
import json
import os
import platform
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

import derain
from derain.archs.blocks import pad_to_multiple
from derain.archs.streaks_vapour import StreaksVapourNet
from derain.archs.vapour import SIZE, downscale
from derain.atomic import atomic_write_bytes
from derain.errors import DerainError

OPSET = 17
EXPORTER = f"torch.onnx.export(dynamo=False), torch {torch.__version__.split('+')[0]}"
INPUT, OUTPUT = "rainy", "derained"
# A streaks-and-vapour model is one graph with two passes: (rainy, small) -> (derained, veil), the
# streak branch on `rainy` (a tile) and the vapour branch on `small` (the whole photo, downscaled).
# onnxruntime runs every node whatever outputs are asked for, so the runner gives the pass it does
# not want an empty batch (or an 8-px image): each call costs one pass.
VEIL_INPUT, VEIL_OUTPUT = "small", "veil"


class _TwoPasses(nn.Module):
    """The export's view of a StreaksVapourNet: both branches, side by side."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, rainy: torch.Tensor, small: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.streaks(rainy), self.model.vapour(small)


def _require_onnx() -> Any:
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise DerainError("the onnx backend needs the optional extra: pip install 'derain[onnx]'") from exc
    return onnx, onnxruntime


def export_bytes(model: nn.Module, meta: dict[str, Any] | None = None) -> bytes:
    """Serialise `model` to ONNX with dynamic batch/height/width and derain metadata props."""
    onnx, _ = _require_onnx()
    align = getattr(model, "align", 1)
    model = model.eval()
    inputs: tuple[torch.Tensor, ...] = (torch.rand(1, 3, 8 * align, 8 * align),)
    axes = {0: "batch", 2: "height", 3: "width"}
    names, dynamic = ([INPUT], [OUTPUT]), {INPUT: axes, OUTPUT: axes}
    if isinstance(model, StreaksVapourNet):
        model = _TwoPasses(model)
        inputs += (torch.rand(1, 3, SIZE, SIZE),)
        names = ([INPUT, VEIL_INPUT], [OUTPUT, VEIL_OUTPUT])
        dynamic.update({VEIL_INPUT: {0: "photos"}, VEIL_OUTPUT: {0: "photos"}})
    buf = io.BytesIO()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the aligned-size `if` is intended
        torch.onnx.export(model, inputs, buf, dynamo=False, opset_version=OPSET, input_names=names[0],
                          output_names=names[1], dynamic_axes=dynamic)
    proto = onnx.load_from_string(buf.getvalue())
    _set_props(proto, {"derain": json.dumps(meta or {}), "arch": str((meta or {}).get("arch", type(model).__name__)),
                       "derain_version": derain.__version__, "exporter": EXPORTER, "opset": str(OPSET),
                       "align": str(align)})
    return proto.SerializeToString()


def _set_props(proto: Any, props: dict[str, str]) -> None:
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


# In the `quantization` metadata: files with int8 weights say INT8_WEIGHTS (all of them, also those
# written before 7-bit weights existed), and those with 7-bit ones also SEVEN_BIT.
INT8_WEIGHTS, SEVEN_BIT = "uint8 activations, int8 per-channel weights", "7-bit weights"


def int8_saturates() -> bool:
    """Whether int8 convolutions with 8-bit weights can saturate on this CPU: x86 without VNNI,
    where onnxruntime's kernel (vpmaddubsw) adds pairs of uint8 x int8 products in 16 bits."""
    if platform.machine().lower() not in ("x86_64", "amd64", "x86", "i386", "i686"):
        return False
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:  # not Linux: torch's detector, which knows AVX-512 VNNI only (else: assume none)
        return not getattr(torch.cpu, "_is_vnni_supported", lambda: False)()
    return not flags & {"avx512_vnni", "avx_vnni", "amx_int8"}


def quantize_int8(fp32: bytes, crops: Sequence[Any], note: str = "",
                  ranges: Literal["mean", "extremes"] = "mean", reduce_range: bool | None = None,
                  weights: Literal["int8", "uint8"] = "int8") -> bytes:
    """Static int8 version of an exported model, with activation ranges from `crops`.

    A range is the mean over crops of each crop's min and max (`ranges="mean"`), not the global
    extremes (`"extremes"`, kept for comparison): a few crops can drive deep features far beyond
    the rest (30-70x for the supervised model), and global extremes spend the 256 levels on them.
    `reduce_range` keeps 7 bits of the weights, which cannot saturate on a CPU without VNNI
    (None: if this CPU is one, `int8_saturates()`). `weights="uint8"` (kept for comparison) never
    saturates either, but ran no faster than fp32 there.
    The file keeps the fp32 file's metadata and records how it was quantised (`quantization`).
    """
    if ranges not in ("mean", "extremes"):
        raise ValueError(f"ranges must be 'mean' or 'extremes', not {ranges!r}")
    if weights not in ("int8", "uint8"):
        raise ValueError(f"weights must be 'int8' or 'uint8', not {weights!r}")
    onnx, _ = _require_onnx()
    reduce_range = weights == "int8" and (int8_saturates() if reduce_range is None else reduce_range)
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    two_passes = VEIL_INPUT in {i.name for i in onnx.load_from_string(fp32).graph.input}

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(crops)

        def get_next(self) -> dict[str, Any] | None:
            batch = next(self.batches, None)
            if batch is None:
                return None
            if not two_passes:
                return {INPUT: batch}
            return {INPUT: batch, VEIL_INPUT: downscale(torch.as_tensor(batch)).numpy()}  # crops stand for photos

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(fp32)
        quant_pre_process(src, pre, skip_symbolic_shape=True)  # shape inference + graph folding, as advised
        quantize_static(pre, dst, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8 if weights == "int8" else QuantType.QUInt8, per_channel=True,
                        reduce_range=reduce_range, calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"CalibMovingAverage": ranges == "mean"})  # one crop per batch
        proto = onnx.load(dst)
    props = {p.key: p.value for p in onnx.load_from_string(fp32).metadata_props}
    del proto.metadata_props[:]
    stat = "mean min/max" if ranges == "mean" else "min/max"
    kind = ("uint8 activations, uint8 per-channel weights (8 bits)" if weights == "uint8" else
            f"{INT8_WEIGHTS} ({SEVEN_BIT}, for CPUs without VNNI)" if reduce_range else
            f"{INT8_WEIGHTS} (8 bits, for CPUs with VNNI)")
    _set_props(proto, {**props, "quantization": f"static int8 (QDQ, {kind}, "
                                                f"{stat} of {len(crops)} crops{note})"})
    return proto.SerializeToString()


def export_onnx(path: str | os.PathLike[str], model: nn.Module, meta: dict[str, Any] | None = None,
                overwrite: bool = True, calibration: Sequence[Any] | None = None, note: str = "",
                reduce_range: bool | None = None) -> Path:
    """Write the ONNX file atomically (a partial file never appears under `path`; an existing one is
    replaced only if `overwrite`, a full disk is one line); with `calibration` crops, its static int8 version."""
    data = export_bytes(model, meta)
    if calibration is not None:
        data = quantize_int8(data, calibration, note, reduce_range=reduce_range)
    try:
        return atomic_write_bytes(path, data, overwrite=overwrite)
    except OSError as exc:
        raise DerainError(f"{path}: cannot write ({exc.strerror or exc})") from exc


class OnnxRunner:
    """The backend callable: a (B, 3, H, W) float batch in [0, 1] -> derained batch, on onnxruntime."""

    def __init__(self, model: bytes | str | os.PathLike[str], threads: int = 0) -> None:
        _, ort = _require_onnx()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for bad files
            raise DerainError(f"not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from exc
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.align = int(self.metadata.get("align", 1))
        self.meta: dict[str, Any] = json.loads(self.metadata.get("derain", "{}"))
        quantization = self.metadata.get("quantization", "")
        if INT8_WEIGHTS in quantization and SEVEN_BIT not in quantization and int8_saturates():
            warnings.warn("this int8 model has 8-bit weights, whose sums saturate on a CPU without VNNI like this "
                          "one (a dB or more lost); export it here again (derain export onnx --int8) for 7-bit "
                          "weights", stacklevel=2)

        self.has_vapour = VEIL_INPUT in {i.name for i in self.session.get_inputs()}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The streak pass (the whole derainer, for a model without vapour) on a batch of tiles."""
        h, w = x.shape[-2:]
        padded, _ = pad_to_multiple(x.float().contiguous(), self.align)
        feed = {INPUT: padded.numpy()}
        if self.has_vapour:
            feed[VEIL_INPUT] = np.zeros((0, 3, SIZE, SIZE), np.float32)
        out = self.session.run([OUTPUT], feed)[0]
        return torch.from_numpy(out[..., :h, :w]).clamp(0, 1)

    def veil(self, small: torch.Tensor) -> torch.Tensor:
        """The vapour pass: veil maps of photos downscaled to the branch's input size."""
        feed = {INPUT: np.zeros((1, 3, 8 * self.align, 8 * self.align), np.float32),
                VEIL_INPUT: small.float().contiguous().numpy()}
        return torch.from_numpy(self.session.run([VEIL_OUTPUT], feed)[0])
