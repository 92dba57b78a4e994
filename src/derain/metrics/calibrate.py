"""Compare our metrics with the reference scores of the calibration set; prints a table.

    python -m derain.metrics.calibrate [CALIBRATION_DIR]

CALIBRATION_DIR holds `dist_dir/`, `ref_dir/` and `results_official.csv` (pyiqa's
ResultsCalibra); it defaults to `metrics_calibration/` beside the data root (`../shared`).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from derain.errors import DerainError
from derain.io import read_rgb
from derain.metrics import brisque, niqe, psnr, ssim
from derain.paths import data_root

# Row of results_official.csv -> our metric in the convention that reproduces it.
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "psnr": lambda dist, ref: psnr(dist, ref, channel="rgb"),
    "ssim": lambda dist, ref: ssim(dist, ref, channel="gray"),
    "niqe": lambda dist, ref: niqe(dist),
    "brisque": lambda dist, ref: brisque(dist),
}


def default_root() -> Path:
    return data_root().parent / "metrics_calibration"


def reference_scores(root: Path) -> tuple[list[str], dict[str, list[float]]]:
    """Image names and the reference row of every metric in `results_official.csv`."""
    with open(root / "results_official.csv", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    return header[1:], {row[0]: [float(v) for v in row[1:]] for row in rows}


def measure(root: Path, metric: str) -> list[float]:
    """Our score of `metric` on every calibration image, in the CSV's column order."""
    names, _ = reference_scores(root)
    return [METRICS[metric](read_rgb(root / "dist_dir" / n), read_rgb(root / "ref_dir" / n)) for n in names]


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else default_root()
    names, reference = reference_scores(root)
    print(f"{'metric':8s} {'image':8s} {'ours':>12s} {'reference':>12s} {'ours - ref':>12s}")
    for metric in METRICS:
        try:
            ours = measure(root, metric)
        except DerainError as exc:
            print(f"{metric:8s} skipped: {exc}")
            continue
        for name, value, ref in zip(names, ours, reference[metric]):
            print(f"{metric:8s} {Path(name).stem:8s} {value:12.6f} {ref:12.6f} {value - ref:+12.6f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (DerainError, OSError) as exc:
        sys.exit(f"calibrate: error: {exc}")
