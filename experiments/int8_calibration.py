"""How the int8 export's calibration and weights move its output away from the fp32 model's
(DECISIONS.md, "The fast path is static int8" and "int8 on a CPU without VNNI").

    python experiments/int8_calibration.py [-m derain_supervised] [--images 6]

Four calibrations of the same 48 crops of the default sources (sirr147 + bsds500): the photos as
they are or with rain rendered on them (presets light, medium, heavy in turn), and activation
ranges from the global min/max or from the mean of each crop's min and max; the weights keep 8
bits on a CPU with VNNI and 7 without, as `derain export onnx --int8` does there. Then, with the
shipped calibration (rain, mean ranges), the three kinds of weights: int8 with 8 bits, int8 with
7 bits (`reduce_range`) and uint8, with their speed at 481x321 against onnxruntime fp32 (median
of 7 runs, 2 threads; pause other work first). Printed: Y-PSNR of the int8 output against the
fp32 output on the first images of two rainy parts of the selection set (runs/selection, made
by `python experiments/selection.py build`) and of their rain-free photos; higher is closer.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from derain.io import list_images, read_rgb
from derain.metrics.full_reference import psnr
from derain.calibration import CALIBRATION_RAIN, CALIBRATION_SOURCES, calibration_crops, calibration_photos
from derain.onnx_backend import OnnxRunner, export_bytes, quantize_int8
from derain.weights import load_model

SELECTION = Path(__file__).resolve().parents[1] / "runs" / "selection"
PARTS = {"medium": ("medium", "rainy"), "heavy": ("heavy", "rainy"), "rain-free": ("medium", "clean")}
WEIGHTS = {"int8, 8 bits": {"reduce_range": False}, "int8, 7 bits": {"reduce_range": True},
           "uint8": {"weights": "uint8"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default="derain_supervised")
    parser.add_argument("--images", type=int, default=6, help="images per part")
    args = parser.parse_args()
    model, meta = load_model(args.model)
    fp32 = export_bytes(model, meta)
    reference = OnnxRunner(fp32, threads=2)
    inputs = {part: [torch.from_numpy(read_rgb(p).transpose(2, 0, 1)[None].copy())
                     for p in list_images(SELECTION / folder / kind)[:args.images]]
              for part, (folder, kind) in PARTS.items()}
    targets = {part: [reference(x) for x in xs] for part, xs in inputs.items()}

    def closeness(int8: OnnxRunner) -> str:
        """The table cells: mean Y-PSNR of int8's output against fp32's, per part."""
        means = (statistics.mean(psnr(_hwc(int8(x)), _hwc(t)) for x, t in zip(xs, targets[p], strict=True))
                 for p, xs in inputs.items())
        return " | ".join(f"{m:.2f}" for m in means)

    photos = calibration_photos(CALIBRATION_SOURCES)
    print(f"{args.model}: int8 output vs fp32 output, Y-PSNR (dB), first {args.images} images per part")
    print("| crops | ranges | " + " | ".join(PARTS) + " |\n|---|---|" + "---|" * len(PARTS))
    for rain in ((), CALIBRATION_RAIN):
        crops = calibration_crops(photos, rain=rain)
        for ranges in ("extremes", "mean"):
            crops_label = f"with rain {'/'.join(rain)}" if rain else "photos as they are"
            print(f"| {crops_label} | {ranges} | {closeness(OnnxRunner(quantize_int8(fp32, crops, ranges=ranges)))} |",
                  flush=True)
    print(f"\n| weights | {' | '.join(PARTS)} | seconds at 481x321 | x onnx fp32 |\n|---|" + "---|" * (len(PARTS) + 2))
    base = _seconds(reference)
    print(f"| (onnx fp32) | {' | '.join('inf' for _ in PARTS)} | {base:.4f} | 1.00 |")
    for label, kwargs in WEIGHTS.items():
        int8 = OnnxRunner(quantize_int8(fp32, crops, **kwargs), threads=2)  # crops: the last, the shipped calibration
        seconds = _seconds(int8)
        print(f"| {label} | {closeness(int8)} | {seconds:.4f} | {base / seconds:.2f} |", flush=True)


def _seconds(runner: OnnxRunner) -> float:
    """Median time of 7 runs on a 481x321 image, after a warm-up."""
    x = torch.rand(1, 3, 321, 481)
    runner(x)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        runner(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _hwc(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor -> (H, W, 3) array, what the metrics take."""
    return x[0].permute(1, 2, 0).numpy()


if __name__ == "__main__":
    main()
