"""How the int8 export's calibration moves its output away from the fp32 model's (DECISIONS.md,
"The fast path is static int8").

    python experiments/int8_calibration.py [-m derain_supervised] [--images 6]

Four calibrations of the same 48 crops of the default sources (sirr147 + bsds500): the photos as
they are or with rain rendered on them (presets light, medium, heavy in turn), and activation
ranges from the global min/max or from the mean of each crop's min and max. Printed: Y-PSNR of
the int8 output against the fp32 output on the first images of three parts of the selection set
(runs/selection, made by `python experiments/selection.py build`); higher is closer. The weights
keep 8 bits on a CPU with VNNI and 7 without, as `derain export onnx --int8` does there.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch

from derain.io import list_images, read_rgb
from derain.metrics.full_reference import psnr
from derain.calibration import CALIBRATION_RAIN, CALIBRATION_SOURCES, calibration_crops, calibration_photos
from derain.onnx_backend import OnnxRunner, export_bytes, quantize_int8
from derain.weights import load_model

SELECTION = Path(__file__).resolve().parents[1] / "runs" / "selection"
PARTS = {"medium": "rainy", "heavy": "rainy", "rain-free": "clean"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default="derain_supervised")
    parser.add_argument("--images", type=int, default=6, help="images per part")
    args = parser.parse_args()
    model, meta = load_model(args.model)
    fp32 = export_bytes(model, meta)
    reference = OnnxRunner(fp32)
    inputs = {part: [torch.from_numpy(read_rgb(p).transpose(2, 0, 1)[None].copy())
                     for p in list_images(SELECTION / part / kind)[:args.images]] for part, kind in PARTS.items()}
    targets = {part: [reference(x) for x in xs] for part, xs in inputs.items()}
    photos = calibration_photos(CALIBRATION_SOURCES)
    print(f"{args.model}: int8 output vs fp32 output, Y-PSNR (dB), first {args.images} images per part")
    print("| crops | ranges | " + " | ".join(PARTS) + " |\n|---|---|" + "---|" * len(PARTS))
    for rain in ((), CALIBRATION_RAIN):
        crops = calibration_crops(photos, rain=rain)
        for ranges in ("extremes", "mean"):
            int8 = OnnxRunner(quantize_int8(fp32, crops, ranges=ranges))
            row = [statistics.mean(psnr(_hwc(int8(x)), _hwc(t))
                                   for x, t in zip(inputs[part], targets[part], strict=True)) for part in PARTS]
            crops_label = f"with rain {'/'.join(rain)}" if rain else "photos as they are"
            print(f"| {crops_label} | {ranges} | " + " | ".join(f"{v:.2f}" for v in row) + " |", flush=True)


def _hwc(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor -> (H, W, 3) array, what the metrics take."""
    return x[0].permute(1, 2, 0).numpy()


if __name__ == "__main__":
    main()
