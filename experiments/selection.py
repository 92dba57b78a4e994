"""The selection set of the long runs (issue 10) and the rule that picks the shipped model.

    python experiments/selection.py build                 # render it under runs/selection/ (seconds)
    python experiments/selection.py score MODEL [LABEL]   # derain eval on every part -> docs/eval/<LABEL>-sel-*
    python experiments/selection.py score --fresh MODEL   # again, after the model or its export changed
    python experiments/selection.py pick LABEL...         # apply the rule of docs/DECISIONS.md
    python experiments/selection.py vapour RUN            # score a streaks-and-vapour run per --vapour amount
                                                          # (labels RUN-vapour<X>) and apply its rule
    python experiments/selection.py flips MODEL           # score a zoo model per --flips (labels
                                                          # MODEL-flips<N>) and apply its rule

MODEL is a run of experiments/manifest.yaml (its model file; the label is the run's name, e.g.
`finetune-full-f1`), an export of it (e.g. `derain_student.int8`, written to runs/onnx/ first), or
what `derain eval -m` takes (a zoo name labels itself, a file its stem).

Kodak24 only (no derainer trains on it): one `derain synth` pair per photo for every source of the
training mixture (the presets light, medium, heavy and real; the Garg-Nayar streak layers, lit and
veiled by the real preset), seed 0, and the 24 photos without rain for fidelity (output vs input).
The set is rebuilt byte for byte by `build`; scores land in docs/eval/ so `pick` reads only
committed files. Rain100L and udgnet43 play no part here.

Issue 28 added the parts where the mixture's mean hid the failures: `veil` (vapour without streaks,
experiments/presets/veil.yaml), `large-heavy` (heavy rain and veil at 3x scale on the photos scaled
up to 1500x1500, scored whole; experiments/presets/heavy-large.yaml) and `real_ref` (real rain
against its temporal median, the data root's real_ref). `light` is the veil-free light rain. They
gate a candidate (`gates`); the mean of the mixture's parts still ranks the candidates that pass.
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
from scores import EVAL, ROOT, model_file, per_image, worse_than_input
from scores import score as evaluated

from derain.paths import data_root
from derain.weights import model_info

SELECTION = ROOT / "runs" / "selection"
PHOTOS = "kodak24"  # the rain-free photos every part is rendered on (a pool of the data root's clean/)
SOURCES = {"light": ["--preset", "light"], "medium": ["--preset", "medium"], "heavy": ["--preset", "heavy"],
           "real": ["--preset", "real"], "garg06": ["--preset", "real", "--streaks", "{data}/streaks/garg06"]}
PRESETS = ROOT / "experiments" / "presets"
GATED = {"veil": ["--preset", str(PRESETS / "veil.yaml")],  # rendered parts that gate only (issue 28)
         "large-heavy": ["--preset", str(PRESETS / "heavy-large.yaml")]}
LARGE_PHOTOS, LARGE_SCALE = "large-photos", 3  # folder of the photos scaled up for `large-heavy`
RAIN_FREE = "rain-free"  # the photos without rain, output against input (`derain eval --fidelity`)
REAL_REF = "real_ref"  # real rain against its temporal median: a set of the data root, scored as any other
PARTS = [*SOURCES, *GATED, RAIN_FREE, REAL_REF]
FIDELITY_TARGET = 50.0  # dB, issue 28's gate for rain-free photos (issue 10's was 40)
WORSE_MARGIN = 0.1  # dB below its input's Y-PSNR at which an output counts as worse than doing nothing
PREFER_MARGIN = 0.1  # dB of selection Y-PSNR within which the task-transfer student is preferred
MANIFEST = load()


def scaled_photos() -> Path:
    """The photos scaled up LARGE_SCALE times (Lanczos), the backgrounds of `large-heavy`."""
    from PIL import Image

    out = SELECTION / LARGE_PHOTOS
    if not out.is_dir():
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for path in sorted((data_root() / "clean" / PHOTOS).glob("*.png")):
            with Image.open(path) as im:
                im.convert("RGB").resize((im.width * LARGE_SCALE, im.height * LARGE_SCALE),
                                         Image.Resampling.LANCZOS).save(tmp / path.name)
        tmp.rename(out)
    return out


def build() -> None:
    """Render every rainy part of the selection set (skipping parts already there); the rain-free
    part is the photos themselves (`derain eval --fidelity`), `real_ref` a set of the data root."""
    kodak = data_root() / "clean" / PHOTOS
    for part, args in {**SOURCES, **GATED}.items():
        out = SELECTION / part
        if not out.is_dir():
            photos = scaled_photos() if part == "large-heavy" else kodak
            subprocess.run(["derain", "synth", "--clean", str(photos), "--out", str(out), "--seed", "0",
                            *(a.format(data=data_root()) for a in args)], check=True)


def dataset(part: str) -> str:
    """The name a part's scores go by in docs/eval/<label>-<name>: sel-<part>, or real_ref as for
    every other set of the data root."""
    return REAL_REF if part == REAL_REF else f"sel-{part}"


def folder(label: str, part: str) -> Path:
    return EVAL / f"{label}-{dataset(part)}"


def score(model: str, label: str, fresh: bool = False, options: tuple[str, ...] = ()) -> None:
    """`derain eval` of `model` (with `options`) on every part not scored yet (every part if `fresh`),
    one thread, into docs/eval/<label>-sel-<part>/."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if fresh:
        for part in PARTS:
            shutil.rmtree(folder(label, part), ignore_errors=True)
    todo = [part for part in PARTS if not (folder(label, part) / "results.json").exists()
            and not (label == "input" and part == RAIN_FREE)]
    if set(todo) - {RAIN_FREE, REAL_REF}:
        build()
    for part in todo:
        data = (["-d", PHOTOS, "--fidelity"] if part == RAIN_FREE else ["-d", "real_ref"] if part == REAL_REF
                else ["-d", str(SELECTION / part)])
        subprocess.run(["derain", "eval", "-m", model, *data, "-o", str(folder(label, part)), "--overwrite",
                        *options], check=True, env=env)


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


def worse(label: str) -> dict[str, list[str]] | None:
    """The rendered selection images whose output is more than WORSE_MARGIN dB below its rainy
    input, per part; None until `label` and `input` are scored on every rendered part."""
    found = {part: worse_than_input(label, dataset(part), WORSE_MARGIN) for part in [*SOURCES, *GATED]}
    return None if None in found.values() else found


def clips(label: str) -> dict[str, float] | None:
    """Mean Y-PSNR per real_ref clip (files CLIP_NNN.png), or None if not scored."""
    scored = per_image(label, REAL_REF)
    return None if scored is None else by_clip(scored)


def by_clip(scores: dict[str, float]) -> dict[str, float]:
    """Mean score per real_ref clip of per-frame scores (files CLIP_NNN.png), clips in name order."""
    clips: dict[str, list[float]] = {}
    for name in sorted(scores):
        clips.setdefault(name.rsplit("_", 1)[0], []).append(scores[name])
    return {clip: statistics.mean(values) for clip, values in clips.items()}


def gates(label: str) -> dict[str, bool] | None:
    """Issue 28's gates (docs/DECISIONS.md, "The streaks-only default"): fidelity, no rendered image
    worse than its input, every real_ref clip above its input. None until all are scored."""
    fidelity, bad, ours, given = psnr(label, RAIN_FREE), worse(label), clips(label), clips("input")
    if fidelity is None or bad is None or ours is None or given is None:
        return None
    return {f"fidelity at least {FIDELITY_TARGET:.0f} dB": fidelity >= FIDELITY_TARGET,
            "no rendered image worse than its input": not any(bad.values()),
            "every real_ref clip above its input": all(ours[c] > given[c] for c in given)}


def task_transfer(label: str) -> bool:
    """Whether `label` is a task-transfer student: a finetune run, or a zoo model shipped from one."""
    run = MANIFEST.runs.get(MANIFEST.zoo.get(label, label))
    return run is not None and run.stage == "finetune"


def pick(labels: list[str]) -> str | None:
    """The rule of docs/DECISIONS.md ("The streaks-only default", issue 28): among the candidates
    that pass every gate, the highest selection Y-PSNR, the task-transfer student within
    PREFER_MARGIN; None when no candidate passes (the default stays)."""
    scores = {label: summary(label) for label in labels}
    checks = {label: gates(label) for label in labels}
    missing = [label for label in labels if scores[label] is None or checks[label] is None]
    if missing:
        raise SystemExit(f"not scored yet: {', '.join(missing)} (run `score` first, and `score input`)")
    qualified = [label for label in labels if all(checks[label].values())]
    if not qualified:
        return None
    best = max(qualified, key=lambda label: scores[label]["selection_psnr_y"])
    close = [label for label in qualified if task_transfer(label)
             and scores[best]["selection_psnr_y"] - scores[label]["selection_psnr_y"] <= PREFER_MARGIN]
    return max(close, key=lambda label: scores[label]["selection_psnr_y"]) if close else best


AMOUNTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the --vapour candidates (docs/DECISIONS.md, "The default amount")
USEFUL = 0.5  # dB the vapour branch must gain on the `veil` part at amount 1 over 0 to ship at all


def amount_label(run: str, amount: float) -> str:
    return f"{run}-vapour{amount:g}"


def score_amounts(run: str) -> dict[float, str]:
    """Score a finished streaks-and-vapour run at every candidate amount; label per amount."""
    found = model_file(MANIFEST.runs[run])
    if found is None:
        raise SystemExit(f"{run}: the run has not finished (no model file in runs/ or docs/training-long/)")
    labels = {amount: amount_label(run, amount) for amount in AMOUNTS}
    for amount, label in labels.items():
        score(str(found), label, options=("--vapour", str(amount)))
    return labels


def vapour_rule(run: str) -> dict[str, object]:
    """The rule of docs/DECISIONS.md ("The default amount and the ship rule"): among the amounts whose
    scores pass every gate, the highest mean Y-PSNR over the mixture's parts and `veil`, the smaller
    amount within PREFER_MARGIN; the joined model ships only if its branch gains USEFUL dB on `veil`."""
    rows = {}
    for amount in AMOUNTS:
        label = amount_label(run, amount)
        parts = [psnr(label, part) for part in [*SOURCES, "veil"]]
        checks = gates(label)
        if None in parts or checks is None:
            raise SystemExit(f"not scored yet: {label} (run `vapour {run}` first, and `score input`)")
        rows[amount] = {"mean": statistics.mean(parts), "veil": parts[-1], "gates": checks, "clips": clips(label),
                        "fidelity": psnr(label, RAIN_FREE)}
    passing = [a for a in AMOUNTS if all(rows[a]["gates"].values())]
    useful = rows[1.0]["veil"] - rows[0.0]["veil"] >= USEFUL
    best = max(passing, key=lambda a: rows[a]["mean"]) if passing else None
    if best is not None:
        best = min(a for a in passing if rows[best]["mean"] - rows[a]["mean"] <= PREFER_MARGIN)
    return {"amounts": rows, "useful": useful, "amount": best, "ships": useful and best is not None}


def report_sets(run: str, amount: float) -> None:
    """Rain100L and udgnet43 at the chosen amount (docs/eval/<run>-vapour<X>-<set>), never chosen on."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    label = amount_label(run, amount)
    for name in ("rain100l_test", "udgnet43"):
        out = EVAL / f"{label}-{name}"
        if not (out / "results.json").exists():
            subprocess.run(["derain", "eval", "-m", str(model_file(MANIFEST.runs[run])), "-d", name, "-o", str(out),
                            "--overwrite", "--vapour", str(amount)], check=True, env=env)


COPIES = (1, 2, 4)  # the --flips candidates (docs/DECISIONS.md, "Averaging over mirrored copies")
SPEED_TARGET = 20.0  # x PReNet at 481x321, issue 28's speed target: a gate for the copies
SPEED = ROOT / "docs" / "benchmarks" / "models.json"  # python benchmarks/bench_models.py --flips 2 4 --json ...


def copies_label(model: str, flips: int) -> str:
    """One copy is the model as it was always scored (no suffix); more are MODEL-flips<N>."""
    return model if flips == 1 else f"{model}-flips{flips}"


def speed_ratios(arch: str) -> dict[int, float]:
    """Speed against PReNet of `arch` per number of copies, from the landed benchmark."""
    rows = {row["model"]: row["s_fp32"] for row in json.loads(SPEED.read_text())["rows"]}
    found = {flips: rows.get(arch if flips == 1 else f"{arch}, {flips} copies") for flips in COPIES}
    if None in found.values():
        raise SystemExit(f"{SPEED.relative_to(ROOT)} lacks {arch} at some number of copies: run "
                         f"`python benchmarks/bench_models.py --flips 2 4 --json {SPEED.relative_to(ROOT)}`")
    return {flips: rows["prenet"] / seconds for flips, seconds in found.items()}


def flips_rule(model: str, speed: dict[int, float]) -> dict[str, object]:
    """The rule of docs/DECISIONS.md ("Averaging over mirrored copies"): among the numbers of copies
    that pass every gate and the speed target, the highest mean Y-PSNR over the mixture's parts,
    fewer copies within PREFER_MARGIN."""
    rows = {}
    for flips in COPIES:
        label = copies_label(model, flips)
        checks, mean = gates(label), summary(label)
        if checks is None or mean is None:
            raise SystemExit(f"not scored yet: {label} (run `flips {model}` first, and `score input`)")
        checks[f"at least {SPEED_TARGET:g}x PReNet"] = speed[flips] >= SPEED_TARGET
        rows[flips] = {"mean": mean["selection_psnr_y"], "parts": {p: mean[f"psnr_y_{p}"] for p in SOURCES},
                       "gates": checks, "clips": clips(label), "fidelity": mean["fidelity_psnr_y"],
                       "speed_vs_prenet": speed[flips]}
    passing = [f for f in COPIES if all(rows[f]["gates"].values())]
    best = max(passing, key=lambda f: rows[f]["mean"]) if passing else None
    if best is not None:
        best = min(f for f in passing if rows[best]["mean"] - rows[f]["mean"] <= PREFER_MARGIN)
    return {"copies": rows, "flips": best}


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
    sub.add_parser("vapour").add_argument("run")
    sub.add_parser("flips").add_argument("model")
    args = parser.parse_args()
    if args.command == "build":
        build()
    elif args.command == "score":
        print(json.dumps(summary(score_model(args.model, args.label, args.fresh)), indent=1))
    elif args.command == "vapour":
        score_amounts(args.run)
        rule = vapour_rule(args.run)
        print(json.dumps(rule, indent=1))
        if rule["ships"]:  # after the choice, for the report only
            report_sets(args.run, rule["amount"])
    elif args.command == "flips":
        for flips in COPIES:
            score(args.model, copies_label(args.model, flips), options=("--flips", str(flips)))
        rule = flips_rule(args.model, speed_ratios(model_info(args.model)["arch"]))
        print(json.dumps(rule, indent=1))
    else:
        for label in args.labels:
            print(label, json.dumps(summary(label)), json.dumps(gates(label)), json.dumps(clips(label)))
        print("selected:", pick(args.labels) or "none (no candidate passes every gate: the default stays)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
