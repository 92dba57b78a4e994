"""ONNX export and the onnxruntime backend of the inference engine (extra `derain[onnx]`).

Export uses the TorchScript-based exporter (`dynamo=False`), which needs no onnxscript and gives
the same numbers as torch (STACK.md); exporter and opset are pinned here and recorded in the
file's metadata. Height and width are dynamic but must be multiples of the network's grid
(`align`): a traced `if` on the input size would freeze RainUNet's internal padding, so the
graph is traced at an aligned size and the runner pads like the network does before calling it.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

import derain
from derain.archs.blocks import pad_to_multiple
from derain.atomic import atomic_write_bytes
from derain.errors import DerainError

OPSET = 17
EXPORTER = f"torch.onnx.export(dynamo=False), torch {torch.__version__.split('+')[0]}"
INPUT, OUTPUT = "rainy", "derained"


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
    dummy = torch.rand(1, 3, 8 * align, 8 * align)
    axes = {0: "batch", 2: "height", 3: "width"}
    buf = io.BytesIO()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the aligned-size `if` is intended
        torch.onnx.export(model, (dummy,), buf, dynamo=False, opset_version=OPSET, input_names=[INPUT],
                          output_names=[OUTPUT], dynamic_axes={INPUT: axes, OUTPUT: axes})
    proto = onnx.load_from_string(buf.getvalue())
    props = {"derain": json.dumps(meta or {}), "arch": str((meta or {}).get("arch", type(model).__name__)),
             "derain_version": derain.__version__, "exporter": EXPORTER, "opset": str(OPSET), "align": str(align)}
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def export_onnx(path: str | os.PathLike[str], model: nn.Module, meta: dict[str, Any] | None = None,
                overwrite: bool = True) -> Path:
    """Write the ONNX file atomically (a partial file never appears under `path`; an existing one is
    replaced only if `overwrite`)."""
    return atomic_write_bytes(path, export_bytes(model, meta), overwrite=overwrite)


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

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        padded, _ = pad_to_multiple(x.float().contiguous(), self.align)
        (out,) = self.session.run([OUTPUT], {INPUT: padded.numpy()})
        return torch.from_numpy(out[..., :h, :w]).clamp(0, 1)
