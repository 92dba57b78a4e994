"""The selection set of the long runs (issue 10) and the rule that picks the shipped model.

    python experiments/selection.py build                 # render it under runs/selection/ (seconds)
    python experiments/selection.py score MODEL [LABEL]   # derain eval on every part -> docs/eval/<LABEL>-sel-*
    python experiments/selection.py score --fresh MODEL   # again, after the model or its export changed
    python experiments/selection.py pick LABEL...         # apply the rule of docs/DECISIONS.md

MODEL is a run of experiments/manifest.yaml (its model file; the label is the run's name, e.g.
`finetune-full-f1`), an export of it (e.g. `derain_student.int8`, written to runs/onnx/ first), or
what `derain eval -m` takes (a zoo name labels itself, a file its stem).

Kodak24 only (no derainer trains on it): one `derain synth` pair per photo for every source of the
training mixture (the presets light, medium, heavy and real; the Garg-Nayar streak layers, lit and
veiled by the real preset), seed 0, and the 24 photos without rain for fidelity (output vs input).
The set is rebuilt byte for byte by `build`; scores land in docs/eval/ so `pick` reads only
committed files. Rain100L and udgnet43 play no part here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from manifest import load
from scores import EVAL, ROOT, model_file
from scores import score as evaluated

from derain.paths import data_root

SELECTION = ROOT / "runs" / "selection"
PHOTOS = "kodak24"  # the rain-free photos every part is rendered on (a pool of the data root's clean/)
SOURCES = {"light": ["--preset", "light"], "medium": ["--preset", "medium"], "heavy": ["--preset", "heavy"],
           "real": ["--preset", "real"], "garg06": ["--preset", "real", "--streaks", "{data}/streaks/garg06"]}
RAIN_FREE = "rain-free"  # the photos without rain, output against input (`derain eval --fidelity`)
FIDELITY_TARGET = 40.0  # dB, the quality issue's target for rain-free photos
PREFER_MARGIN = 0.1  # dB of selection Y-PSNR within which the task-transfer student is preferred
MANIFEST = load()


def build() -> None:
    """Render every rainy part of the selection set (skipping parts already there); the rain-free
    part is the photos themselves (`derain eval --fidelity`)."""
    kodak = data_root() / "clean" / PHOTOS
    for source, args in SOURCES.items():
        out = SELECTION / source
        if not out.is_dir():
            subprocess.run(["derain", "synth", "--clean", str(kodak), "--out", str(out), "--seed", "0",
                            *(a.format(data=data_root()) for a in args)], check=True)


def score(model: str, label: str, fresh: bool = False) -> None:
    """`derain eval` of `model` on every part not scored yet (every part if `fresh`), one thread,
    into docs/eval/<label>-sel-<part>/."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if fresh:
        for part in [*SOURCES, RAIN_FREE]:
            shutil.rmtree(EVAL / f"{label}-sel-{part}", ignore_errors=True)
    todo = [part for part in [*SOURCES, RAIN_FREE] if not (EVAL / f"{label}-sel-{part}" / "results.json").exists()]
    if set(todo) - {RAIN_FREE}:
        build()
    for part in todo:
        data = ["-d", PHOTOS, "--fidelity"] if part == RAIN_FREE else ["-d", str(SELECTION / part)]
        subprocess.run(["derain", "eval", "-m", model, *data, "-o", str(EVAL / f"{label}-sel-{part}")],
                       check=True, env=env)


def score_model(model: str, label: str | None = None, fresh: bool = False) -> str:
    """Score MODEL as `score` on the command line does (see the module's help); its label. `fresh`:
    score again, and export again first, since the model behind the name changed."""
    run, export = MANIFEST.runs.get(model), MANIFEST.exports.get(model)
    label = label or (run.name if run else export.label if export else Path(model).stem)
    path = model  # what `derain eval -m` takes
    if run:
        found = model_file(run)
        if found is None:
            raise SystemExit(f"{model}: the run has not finished (no model file in runs/ or docs/training-long/)")
        path = str(found)
    elif export:
        path = str(ROOT / export.path)
        if fresh or not Path(path).exists():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).unlink(missing_ok=True)
            subprocess.run(export.command(), cwd=ROOT, check=True)
    score(path, label, fresh)
    return label


def psnr(label: str, part: str) -> float | None:
    """Mean Y-PSNR of `label` on one part (docs/eval/<label>-sel-<part>/), or None if not scored;
    on the rain-free part that is its fidelity."""
    result = evaluated(label, f"sel-{part}")
    return None if result is None else result["psnr_y"]


def summary(label: str) -> dict[str, float] | None:
    """Mean Y-PSNR over the rainy parts and the fidelity of `label`, or None if not scored."""
    rainy = [psnr(label, part) for part in SOURCES]
    fidelity = psnr(label, RAIN_FREE)
    if None in rainy or fidelity is None:
        return None
    return {"selection_psnr_y": statistics.mean(rainy), "fidelity_psnr_y": fidelity,
            **{f"psnr_y_{part}": value for part, value in zip(SOURCES, rainy)}}


def task_transfer(label: str) -> bool:
    """Whether `label` is a task-transfer student: a finetune run, or a zoo model shipped from one."""
    run = MANIFEST.runs.get(MANIFEST.zoo.get(label, label))
    return run is not None and run.stage == "finetune"


def pick(labels: list[str]) -> str:
    """The rule of docs/DECISIONS.md ("Which long run ships")."""
    scores = {label: summary(label) for label in labels}
    missing = [label for label, s in scores.items() if s is None]
    if missing:
        raise SystemExit(f"not scored yet: {', '.join(missing)} (run `score` first)")
    qualified = [label for label in labels if scores[label]["fidelity_psnr_y"] >= FIDELITY_TARGET]
    if not qualified:
        return max(labels, key=lambda label: scores[label]["fidelity_psnr_y"])
    best = max(qualified, key=lambda label: scores[label]["selection_psnr_y"])
    close = [label for label in qualified if task_transfer(label)
             and scores[best]["selection_psnr_y"] - scores[label]["selection_psnr_y"] <= PREFER_MARGIN]
    return max(close, key=lambda label: scores[label]["selection_psnr_y"]) if close else best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build")
    scoring = sub.add_parser("score")
    scoring.add_argument("model")
    scoring.add_argument("label", nargs="?")
    scoring.add_argument("--fresh", action="store_true", help="score every part again (an export: export it "
                         "again first), after the model or the export code changed")
    picking = sub.add_parser("pick")
    picking.add_argument("labels", nargs="+")
    args = parser.parse_args()
    if args.command == "build":
        build()
    elif args.command == "score":
        print(json.dumps(summary(score_model(args.model, args.label, args.fresh)), indent=1))
    else:
        for label in args.labels:
            print(label, json.dumps(summary(label)))
        print("selected:", pick(args.labels))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
