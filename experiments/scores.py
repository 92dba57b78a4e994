"""What the studies measured: the scores and training records of the models of experiments/manifest.yaml.

`evaluate` fills docs/eval/<label>-<set>/ with `derain eval` (the selection set's parts through
experiments/selection.py). Everything else reads only committed files (docs/eval, the records of
docs/training/ and docs/training-long/, the zoo's metadata), so docs/RESULTS.md can be regenerated
from the repository. The statistics over seeds are here too; results.py turns the numbers into
tables and sentences.
"""

from __future__ import annotations

import functools
import json
import math
import os
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from manifest import Run, load

from derain.errors import DerainError
from derain.paths import data_root
from derain.training.config import load_config
from derain.training.snapshot import snapshot_info

ROOT = Path(__file__).resolve().parents[1]
EVAL, ZOO = ROOT / "docs" / "eval", ROOT / "src" / "derain" / "zoo"
TRAINING, LONG = ROOT / "docs" / "training", ROOT / "docs" / "training-long"  # the records of each study
MANIFEST = load()
SELECTION = "runs/selection-kodak24"  # the earlier study's selection set (medium preset only)
SELECTION_CMD = ["derain", "synth", "--clean", "{data}/clean/kodak24", "--out", SELECTION, "--preset", "medium",
                 "--per-image", "2", "--seed", "0"]
DATASETS = {"rain100l_test": "rain100l_test", "udgnet43": "udgnet43", "real_ref": "real_ref", "selection": SELECTION}
CLAIM_MARGIN = 0.5  # dB of task transfer over supervised from scratch: the bar for the paper's claim (issue 6)
# The earlier study's headline metrics, in table order: (set, metric, digits, column heading).
METRICS = (("rain100l_test", "psnr_y", 2, "Rain100L Y-PSNR"), ("rain100l_test", "ssim_y", 4, "Y-SSIM"),
           ("udgnet43", "niqe", 2, "udgnet43 NIQE ↓"), ("udgnet43", "brisque", 2, "BRISQUE ↓"),
           ("selection", "psnr_y", 2, "selection Y-PSNR"))


# ---------------------------------------------------------------- writing docs/eval

def model_file(run: Run) -> Path | None:
    """A finished run's model file: in runs/, or as landed in docs/training-long/."""
    for path in (ROOT / run.model, LONG / run.name / "model.safetensors"):
        if path.exists():
            return path
    return None


def evaluate(labels: list[str]) -> None:
    """Run the missing evaluations of `labels`, one thread each. The earlier study's scores are final:
    its models are not scored again (a name it shares with the long study is the long run's now)."""
    import selection  # a sibling that reads this module's scores

    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    for label in labels:
        entry = MANIFEST.entries[label]
        model = entry.model
        if entry.run is not None and "earlier" in entry.run.study:
            continue
        if entry.run is not None:
            found = model_file(entry.run)
            if found is None:
                print(f"skip {label}: its run has not finished")
                continue
            model = str(found)
        for dataset in entry.sets:
            if dataset == "sel":
                selection.score_model(label)
                continue
            out = EVAL / f"{label}-{dataset}"
            if not (out / "results.json").exists():
                if dataset == "selection" and not (ROOT / SELECTION).is_dir():
                    subprocess.run([a.format(data=data_root()) for a in SELECTION_CMD], cwd=ROOT, check=True,
                                   stdout=subprocess.DEVNULL)
                print(f"eval {label} on {dataset}", flush=True)
                subprocess.run(["derain", "eval", "-m", model, "-d", DATASETS[dataset], "-o", str(out), "--overwrite"],
                               cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------- reading them

@functools.cache
def score(label: str, dataset: str) -> dict[str, float] | None:
    """Mean metrics of `label` on `dataset`, or None if not evaluated."""
    path = EVAL / f"{label}-{dataset}" / "results.json"
    return json.loads(path.read_text())["mean"] if path.exists() else None


def per_image(label: str, dataset: str) -> dict[str, float] | None:
    """Y-PSNR of every image of `label` on `dataset` (docs/eval/<label>-<dataset>), None if not scored."""
    path = EVAL / f"{label}-{dataset}" / "results.json"
    return {r["image"]: r["psnr_y"] for r in json.loads(path.read_text())["rows"]} if path.exists() else None


def worse_than_input(label: str, dataset: str, margin: float = 0.0) -> list[str] | None:
    """The images of `dataset` whose output Y-PSNR is more than `margin` dB below the rainy input's:
    where deraining did harm. None until `label` and `input` are both scored there."""
    ours, given = per_image(label, dataset), per_image("input", dataset)
    if ours is None or given is None:
        return None
    return [name for name, value in ours.items() if value < given[name] - margin]


def record(run: str) -> Path:
    """Where a run's record is: docs/training-long/<run> for a run of the long study (the name of a
    run in both studies means the long one), docs/training/<run> for the earlier study."""
    spec = MANIFEST.runs.get(run)
    return LONG / run if spec is not None and "long" in spec.study else TRAINING / run


@functools.cache
def summary(run: str, where: Path | None = None) -> dict[str, Any] | None:
    """The summary.json of a finished run's record (`where`: its folder, if not record(run)), or None."""
    path = (where or record(run)) / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def progress(run: str) -> dict[str, Any] | None:
    """How far a long run got, from its landed record: step, steps, seconds (training time, summed over
    sessions) and done; None before it starts."""
    done = summary(run)
    if done is not None:
        return {"step": done["step"], "steps": done["steps"], "seconds": done["seconds"], "done": True}
    try:
        info = snapshot_info(LONG / run)
    except DerainError:
        return None
    return {"step": info["step"], "steps": info["steps"], "seconds": info["seconds"], "done": False}


def config(run: str) -> dict[str, Any]:
    """The resolved config of a run: its record's, or, before it starts, what the manifest makes."""
    path = record(run) / "config.yaml"
    if path.exists():
        return yaml.safe_load(path.read_text())
    spec = MANIFEST.runs[run]
    return vars(load_config(spec.stage, ROOT / spec.config if spec.config else spec.profile, spec.args))


def train_pairs(run: str) -> str:
    """How many pairs the earlier study's run trained on (its data list), 'n/a' without a record."""
    if summary(run, TRAINING / run) is None:
        return "n/a"
    data = json.loads((TRAINING / run / "data.json").read_text())
    return str(len(data.get("train", [])))


def lineage(run: str) -> list[str]:
    """`run` and every recorded run its training started from (its data list's `init`, `streaks` and
    `teachers`, and theirs), in the order found, all in the records of `run`'s study."""
    where = record(run).parent
    found, todo = [], [run]
    while todo:
        name = todo.pop(0)
        path = where / name / "data.json"
        if name in found or not path.exists():
            continue
        found.append(name)
        data = json.loads(path.read_text())
        todo += [source_run(p) for p in [data.get("init"), data.get("streaks"), *data.get("teachers", {}).values()]
                 if p]
    return found


def source_run(path: str) -> str:
    """The run a model file a stage started from came out of: its folder's name, or for a file of the
    zoo, the run it was shipped from."""
    file = Path(path)
    if file.parent.name == "zoo":
        return Path(zoo_meta(file.stem)["run_dir"]).name
    return file.parent.name


def pools(run: str, where: Path) -> set[str]:
    """The datasets the data list of the run's record in `where` names: the pools it trained on
    (held-out images are drawn from them too; rendered pairs count by their backgrounds' pool), not
    the sets it only validated on (`val`) or scored (`scored_only`)."""
    def walk(node: Any, key: str = "") -> set[str]:
        if isinstance(node, dict):
            return set().union(*(walk(value, k) for k, value in node.items()))
        if isinstance(node, list) and key not in ("val", "scored_only"):
            return {item.split("/")[0].split(":")[0] for item in node if isinstance(item, str)}
        return set()

    return walk(json.loads((where / run / "data.json").read_text()))


def zoo_meta(name: str) -> dict[str, Any]:
    """The metadata of a shipped model (description, run, scores)."""
    return json.loads((ZOO / f"{name}.json").read_text())


# ---------------------------------------------------------------- the study's groups and statistics

def peers() -> dict[str, str]:
    """Label -> what the official weights were trained on, for the peer models."""
    return {e.label: e.trained_on for e in MANIFEST.entries.values() if e.trained_on}


def ablation(stage: str) -> dict[float, list[str]]:
    """The earlier central ablation's labels of `stage` (finetune or supervised) by fraction, in seed
    order: the runs of the full profile with only --fraction and --seed set."""
    runs = sorted((r for r in MANIFEST.runs.values() if "earlier" in r.study and r.stage == stage
                   and r.profile == "full" and r.eval and "fraction" in r.args and set(r.args) <= {"fraction", "seed"}),
                  key=lambda r: (r.args["fraction"], r.seed))
    out: dict[float, list[str]] = {}
    for run in runs:
        out.setdefault(run.args["fraction"], []).append(run.name)
    return out


def full_arm(stage: str) -> str:
    """The long study's run of `stage` (finetune or supervised) with all the data: the full profile as it is."""
    return next(r.name for r in MANIFEST.runs.values()
                if "long" in r.study and r.stage == stage and r.profile == "full" and not r.args)


ABLATION = "experiments/configs/ablation-f0.1.yaml"  # the long study's minority-data ablation, both arms


def minority_arm(stage: str) -> list[str]:
    """The long study's minority-data runs of `stage`, in seed order: the ablation's one config file,
    only --seed set (other runs with a config file of their own, e.g. streaks-only, are no seeds of it)."""
    runs = [r for r in MANIFEST.runs.values() if "long" in r.study and r.stage == stage and r.config == ABLATION]
    return [r.name for r in sorted(runs, key=lambda r: r.seed)]


def family(label: str) -> str:
    """The network a peer label names: `prenet_rain100l` is PReNet, `brn_rain100l` BRN."""
    return {"prenet": "PReNet", "brn": "BRN"}[label.split("_")[0]]


FIXED = "experiments/configs/fixed-{pairs}.yaml"  # issue 29's regime: N pairs rendered once, both arms
FIXED_SIZES = (100, 400)


def fixed_arm(stage: str, pairs: int) -> list[str]:
    """Issue 29's runs of `stage` on `pairs` fixed pairs, in seed order (one config file per size)."""
    runs = [r for r in MANIFEST.runs.values() if r.stage == stage and r.config == FIXED.format(pairs=pairs)]
    return [r.name for r in sorted(runs, key=lambda r: r.seed)]


# A column of a table: heading, digits, and the value of a label (None if not scored).
Column = tuple[str, int, Callable[[str], "float | None"]]


def scored(dataset: str, metric: str) -> Callable[[str], float | None]:
    """The value of `metric` on `dataset` for a label."""
    return lambda label: (score(label, dataset) or {}).get(metric)


EARLIER = [(heading, digits, scored(dataset, metric)) for dataset, metric, digits, heading in METRICS]


def fmt(value: float | None, digits: int) -> str:
    """A score for a table: 'n/a' if missing, ∞ for an unchanged image's PSNR."""
    return "n/a" if value is None else "∞" if math.isinf(value) else f"{value:.{digits}f}"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table, then a blank line."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *["| " + " | ".join(r) + " |" for r in rows], ""]


def mean(labels: list[str], dataset: str, metric: str) -> float:
    """Mean of `metric` over `labels` (seeds); a TypeError if one is not evaluated."""
    return statistics.mean(score(label, dataset)[metric] for label in labels)


def spread(values: list[float], digits: int) -> str:
    """One value, or mean ± sample std (n) of several (seeds)."""
    if len(values) == 1 or all(map(math.isinf, values)):
        return fmt(values[0], digits)
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f} (n={len(values)})"


def cells(labels: list[str], columns: list[Column] = EARLIER) -> list[str]:
    """Each column's value over `labels` (seeds): mean ± sample std of those scored, 'n/a' if none is."""
    out = []
    for _, digits, value in columns:
        values = [v for v in map(value, labels) if v is not None]
        out.append(spread(values, digits) if values else "n/a")
    return out
