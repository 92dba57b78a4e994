"""What the study measured: the scores and training records of the models of experiments/manifest.yaml.

`evaluate` fills docs/eval/<label>-<set>/ with `derain eval` and copies each finished run's record
(config, summary, data list, log, curves) to docs/training/<run>/. Everything else reads only those
committed files and the zoo's metadata, so docs/RESULTS.md can be regenerated from the repository.
The statistics over seeds and the selection rule are here too; results.py turns the numbers into
tables and sentences.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

from manifest import Entry, load

from derain.paths import data_root

ROOT = Path(__file__).resolve().parents[1]
EVAL, TRAINING, ZOO = ROOT / "docs" / "eval", ROOT / "docs" / "training", ROOT / "src" / "derain" / "zoo"
MANIFEST = load()
SELECTION = "runs/selection-kodak24"
SELECTION_CMD = ["derain", "synth", "--clean", "{data}/clean/kodak24", "--out", SELECTION, "--preset", "medium",
                 "--per-image", "2", "--seed", "0"]
DATASETS = {"rain100l_test": "rain100l_test", "udgnet43": "udgnet43", "selection": SELECTION}
RUN_FILES = ("config.yaml", "summary.json", "data.json", "log.csv", "curves.png")
# The headline metrics, in table order: (set, metric, digits, column heading).
METRICS = (("rain100l_test", "psnr_y", 2, "Rain100L Y-PSNR"), ("rain100l_test", "ssim_y", 4, "Y-SSIM"),
           ("udgnet43", "niqe", 2, "udgnet43 NIQE ↓"), ("udgnet43", "brisque", 2, "BRISQUE ↓"),
           ("selection", "psnr_y", 2, "selection Y-PSNR"))


# ---------------------------------------------------------------- writing docs/eval and docs/training

def copy_record(run: str) -> None:
    """A finished run's record -> docs/training/<run>/, unless the record there is of another run of
    that name (the long runs reuse the folders of stop 8's teachers and distillation)."""
    source, record = ROOT / "runs" / run, TRAINING / run
    if not (source / "model.safetensors").exists():
        return
    recorded = record / "config.yaml"
    if recorded.exists() and recorded.read_text() != (source / "config.yaml").read_text():
        print(f"keep docs/training/{run}: runs/{run} is another run of that name (its config differs)")
        return
    record.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        shutil.copy2(source / name, record / name)


def evaluate(labels: list[str]) -> None:
    """Copy the finished runs of the results study; run the missing evaluations, one thread each."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if not (ROOT / SELECTION).is_dir():
        subprocess.run([a.format(data=data_root()) for a in SELECTION_CMD], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    for run in MANIFEST.runs.values():
        if "results" in run.study:
            copy_record(run.name)
    for label in labels:
        entry = MANIFEST.entries[label]
        if entry.run is not None and not (ROOT / "runs" / entry.run.name / "model.safetensors").exists():
            print(f"skip {label}: runs/{entry.run.name} has not finished")
            continue
        for dataset in entry.sets:
            out = EVAL / f"{label}-{dataset}"
            if not (out / "results.json").exists():
                print(f"eval {label} on {dataset}", flush=True)
                subprocess.run(["derain", "eval", "-m", entry.model, "-d", DATASETS[dataset], "-o", str(out)],
                               cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------- reading them

@functools.cache
def score(label: str, dataset: str) -> dict[str, float] | None:
    """Mean metrics of `label` on `dataset`, or None if not evaluated."""
    path = EVAL / f"{label}-{dataset}" / "results.json"
    return json.loads(path.read_text())["mean"] if path.exists() else None


@functools.cache
def summary(run: str) -> dict[str, Any] | None:
    """The run's summary.json as copied to docs/training, or None."""
    path = TRAINING / run / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def train_pairs(run: str) -> str:
    """How many pairs the run trained on (its data list), 'n/a' without a record."""
    if summary(run) is None:
        return "n/a"
    data = json.loads((TRAINING / run / "data.json").read_text())
    return str(len(data.get("train", [])))


def lineage(run: str) -> list[str]:
    """`run` and every recorded run its training started from (its data list's `init` and
    `teachers`, and theirs), in the order found."""
    found, todo = [], [run]
    while todo:
        name = todo.pop(0)
        path = TRAINING / name / "data.json"
        if name in found or not path.exists():
            continue
        found.append(name)
        data = json.loads(path.read_text())
        todo += [Path(p).parent.name for p in [data.get("init"), *data.get("teachers", {}).values()] if p]
    return found


def pools(run: str) -> set[str]:
    """The datasets the run's data list names: the pools it trained on (held-out images are drawn
    from them too), not the sets it only validated on (`val`) or scored (`scored_only`)."""
    def walk(node: Any, key: str = "") -> set[str]:
        if isinstance(node, dict):
            return set().union(*(walk(value, k) for k, value in node.items()))
        if isinstance(node, list) and key not in ("val", "scored_only"):
            return {item.split("/")[0].split(":")[0] for item in node if isinstance(item, str)}
        return set()

    return walk(json.loads((TRAINING / run / "data.json").read_text()))


def zoo_meta(name: str) -> dict[str, Any]:
    """The metadata of a shipped model (description, run, scores)."""
    return json.loads((ZOO / f"{name}.json").read_text())


# ---------------------------------------------------------------- the study's groups and statistics

def peers() -> dict[str, str]:
    """Label -> what the official weights were trained on, for the peer models."""
    return {e.label: e.trained_on for e in MANIFEST.entries.values() if e.trained_on}


def ablation(stage: str) -> dict[float, list[str]]:
    """The central ablation's labels of `stage` (finetune or supervised) by fraction, in seed order:
    the runs of the full profile with only --fraction and --seed set."""
    runs = sorted((r for r in MANIFEST.runs.values() if r.stage == stage and r.profile == "full" and r.eval
                   and "fraction" in r.args and set(r.args) <= {"fraction", "seed"}),
                  key=lambda r: (r.args["fraction"], r.seed))
    out: dict[float, list[str]] = {}
    for run in runs:
        out.setdefault(run.args["fraction"], []).append(run.name)
    return out


def candidates() -> list[Entry]:
    """The models the selection rule chooses among: the task-transfer students of both teachers
    (fine-tuned from distill-full, so without the `init` of a one-teacher ablation)."""
    return [e for e in MANIFEST.entries.values()
            if e.run is not None and e.run.stage == "finetune" and "init" not in e.run.args and "selection" in e.sets]


def selected() -> Entry | None:
    """The candidate with the highest selection-set Y-PSNR: the shipped default (docs/DECISIONS.md)."""
    scored = [(s["psnr_y"], e) for s, e in ((score(e.label, "selection"), e) for e in candidates()) if s]
    return max(scored, key=lambda t: t[0])[1] if scored else None


def fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def mean(labels: list[str], dataset: str, metric: str) -> float:
    """Mean of `metric` over `labels` (seeds); a TypeError if one is not evaluated."""
    return statistics.mean(score(label, dataset)[metric] for label in labels)


def cells(labels: list[str]) -> list[str]:
    """Mean ± sample std over `labels` (seeds) of each of METRICS ('n/a' if none is evaluated)."""
    out = []
    for dataset, metric, digits, _ in METRICS:
        values = [s[metric] for s in (score(label, dataset) for label in labels) if s]
        if not values:
            out.append("n/a")
        elif len(values) == 1:
            out.append(fmt(values[0], digits))
        else:
            out.append(f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f} (n={len(values)})")
    return out
