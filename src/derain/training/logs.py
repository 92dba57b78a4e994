"""Per-run logs: JSON lines (every record), a CSV of the training curve, and a plot of both.

Records carry a `kind` ("train" or "val"). On resume the log is cut back to the checkpoint's
step, so a killed-and-resumed run has the same log as an uninterrupted one. The CSV is refreshed
at every checkpoint; the plot (a third of a second with matplotlib) at validations and at the end.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from derain.atomic import atomic_write  # noqa: E402


class RunLog:
    """Append-only JSONL log with CSV and PNG views regenerated on demand."""

    def __init__(self, run_dir: Path) -> None:
        self.jsonl, self.csv, self.png = run_dir / "log.jsonl", run_dir / "log.csv", run_dir / "curves.png"

    def records(self) -> list[dict[str, Any]]:
        if not self.jsonl.is_file():
            return []
        return [json.loads(line) for line in self.jsonl.read_text().splitlines() if line.strip()]

    def truncate(self, step: int) -> None:
        """Keep only records up to `step` (the resumed checkpoint's), dropping a torn last line."""
        lines = []
        for line in self.jsonl.read_text().splitlines() if self.jsonl.is_file() else []:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record["step"] <= step:
                lines.append(line)
        self.jsonl.write_text("".join(line + "\n" for line in lines))

    def append(self, record: dict[str, Any]) -> None:
        with open(self.jsonl, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def export(self, plot: bool = True) -> None:
        """Rewrite log.csv (training records) and, if `plot`, curves.png (loss and held-out metrics)."""
        records = self.records()
        train = [r for r in records if r["kind"] == "train"]
        val = [r for r in records if r["kind"] == "val"]
        if train:
            keys = list(dict.fromkeys(k for r in train for k in r if k != "kind"))
            atomic_write(self.csv, lambda p: _write_csv(p, keys, train))
        if not plot:
            return
        fig, axes = plt.subplots(1, 2 if val else 1, figsize=(10 if val else 5, 3.5), squeeze=False)
        for key in (k for k in (train[0] if train else {}) if k.startswith("loss")):
            axes[0, 0].plot([r["step"] for r in train], [r[key] for r in train], label=key)
        axes[0, 0].set(xlabel="step", ylabel="loss", yscale="log", title="training loss")
        axes[0, 0].legend(fontsize=7)
        if val:
            for key in (k for k in val[-1] if k not in ("kind", "step")):
                axes[0, 1].plot([r["step"] for r in val], [r.get(key) for r in val], marker="o", label=key)
            axes[0, 1].set(xlabel="step", title="held-out")
            axes[0, 1].legend(fontsize=7)
        fig.tight_layout()
        atomic_write(self.png, lambda p: fig.savefig(p, dpi=100, format="png"))
        plt.close(fig)


def _write_csv(path: str, keys: list[str], rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

