"""The evaluation harness: one model, one dataset, one table.

Paired sets are scored with PSNR/SSIM on the Y channel of MATLAB's `rgb2ycbcr` (the deraining
literature's convention) and RGB PSNR, on 8-bit outputs; unpaired real sets with NIQE and
BRISQUE (lower is better). Fidelity scores the other half of a derainer's job, leaving a photo
without rain alone: the same full-reference metrics of the output against its own rain-free
input (the clean halves of a paired set, every image of an unpaired one; infinite if unchanged).
Every model, ours or a peer's, goes through the same `Derainer`, the same 8-bit rounding and the
same metric code, so the numbers are comparable. Every set also gets `darkened`, the share of
each picture whose local brightness the model lowered well below its input's (`metrics.darkened`):
the dark blotches a derainer leaves when it takes a scene for a veil.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from derain import metrics
from derain.atomic import atomic_write_set, check_writable
from derain.data import open_dataset
from derain.inference import Derainer
from derain.io import Picture, write_picture
from derain.metrics.color import to_uint8

PAIRED_METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "darkened")
UNPAIRED_METRICS = ("niqe", "brisque", "darkened")
REPORT_FILES = ("results.md", "results.csv", "results.json")  # what `EvalReport.write` makes


@dataclass
class EvalReport:
    """Per-image rows and their means; written as Markdown, CSV and JSON."""

    model: str
    dataset: str
    metrics: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mean(self) -> dict[str, float]:
        keys = (*self.metrics, "seconds")
        return {k: float(np.mean([r[k] for r in self.rows])) for k in keys}

    def to_markdown(self) -> str:
        keys = (*self.metrics, "seconds")
        lines = [f"# {self.model} on {self.dataset} ({len(self.rows)} images)", "",
                 "| image | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        mean = self.mean
        lines.append("| **mean** | " + " | ".join(f"**{mean[k]:.4f}**" for k in keys) + " |")
        lines += ["| " + r["image"] + " | " + " | ".join(f"{r[k]:.4f}" for k in keys) + " |" for r in self.rows]
        return "\n".join(lines) + "\n"

    def _write_csv(self, path: Path) -> None:
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["image", *self.metrics, "seconds"])
            writer.writeheader()
            writer.writerows(self.rows)

    def write(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write results.md, results.csv and results.json into `out_dir`, all three or (a full disk,
        say: one line) none, so that no table is ever left without the others."""
        out = Path(out_dir)
        check_writable(out)
        summary = {"model": self.model, "dataset": self.dataset, "images": len(self.rows), "mean": self.mean,
                   "rows": self.rows}
        writers = (lambda tmp: tmp.write_text(self.to_markdown()), self._write_csv,
                   lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))
        atomic_write_set({out / name: write for name, write in zip(REPORT_FILES, writers)})
        return out


def score_pair(pred: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Full-reference scores of one 8-bit prediction against its 8-bit ground truth."""
    return {"psnr_y": metrics.psnr(pred, clean, channel="y"), "ssim_y": metrics.ssim(pred, clean, channel="y"),
            "psnr_rgb": metrics.psnr(pred, clean, channel="rgb")}


def score_real(pred: np.ndarray) -> dict[str, float]:
    """No-reference scores of one 8-bit prediction (lower is better)."""
    return {"niqe": metrics.niqe(pred), "brisque": metrics.brisque(pred)}


def evaluate(derainer: Derainer | None, dataset: str, model_name: str = "model", data_root: str | None = None,
             limit: int | None = None, save_images: str | os.PathLike[str] | None = None, progress: bool = True,
             fidelity: bool = False) -> EvalReport:
    """Derain every image of `dataset` (a catalogue name or a folder) and score it; with `fidelity`,
    derain its rain-free images instead and score each output against its input.

    `derainer=None` scores the rainy input itself: the baseline every model must beat.
    """
    data = open_dataset(dataset, data_root)
    paired = data.paired or fidelity
    report = EvalReport(model_name, f"{dataset} (fidelity)" if fidelity else dataset,
                        PAIRED_METRICS if paired else UNPAIRED_METRICS)
    count = len(data) if limit is None else min(limit, len(data))
    for i in tqdm(range(count), desc=f"{model_name} on {dataset}", unit="img", disable=not progress):
        sample = data[i]
        if fidelity:  # the rain-free image goes in and is its own reference
            image = target = sample.clean if data.paired else sample.rainy
        else:
            image, target = sample.rainy, sample.clean
        start = time.perf_counter()
        pred = image if derainer is None else derainer.remove(image)
        seconds = time.perf_counter() - start
        pred8, given8 = to_uint8(pred), to_uint8(image)
        scores = score_pair(pred8, given8 if target is image else to_uint8(target)) if paired else score_real(pred8)
        report.rows.append({"image": sample.name, **scores, "darkened": metrics.darkened(pred8, given8),
                            "seconds": seconds})
        if save_images is not None:
            panels = [image, pred] + ([target] if paired and not fidelity else [])
            side = np.concatenate(panels, axis=1)
            write_picture(Path(save_images) / f"{Path(sample.name).stem}.png", Picture(side), overwrite=True)
    return report
