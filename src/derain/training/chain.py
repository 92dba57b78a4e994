"""`derain train all`: the whole task-transfer chain, then one evaluation table.

teacher-recognition -> teacher-reconstruction -> distill (reads both teachers) -> finetune (reads
the distilled student) and, for the central ablation, supervised (same fraction, same budget,
from scratch). Each stage writes `<out>/<stage>-<profile>[-f<fraction>][-s<seed>]/`; with
`resume`, stages already finished are kept and an interrupted one continues from its checkpoint.
The table scores the rainy input, the distilled, fine-tuned and supervised students on the
Rain100L test pairs (evaluation only; nothing in the chain reads it before this point).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from derain.data import open_dataset, open_view
from derain.training.checkpoint import CHECKPOINT
from derain.training.config import STAGES, load_config, to_dict
from derain.training.distributed import setup, teardown
from derain.training.run import RUNS, default_run_dir, run_stage
from derain.training.rundir import check_run_dir

EVAL_SET = "rain100l_test"
EVAL_LIMIT = {"tiny": 3, "full": None}  # images of the evaluation set scored per profile


def evaluation_table(runs: dict[str, Path], data_root: str | None, limit: int | None,
                     progress: bool) -> tuple[str, list[dict[str, Any]]]:
    """Markdown table (and rows) of the input and each derainer on the evaluation set."""
    from derain.evaluation.harness import evaluate
    from derain.inference import load_model

    rows = []
    for label, run in [("input (no deraining)", None), *runs.items()]:
        derainer = None if run is None else load_model(run / "model.safetensors")
        report = evaluate(derainer, EVAL_SET, model_name=label, data_root=data_root, limit=limit, progress=progress)
        rows.append({"model": label, "run": str(run) if run else "", "images": len(report.rows), **report.mean})
    keys = ("psnr_y", "ssim_y", "psnr_rgb", "seconds")
    lines = [f"| model ({EVAL_SET}, {rows[0]['images']} images) | " + " | ".join(keys) + " |",
             "|---" * (len(keys) + 1) + "|"]
    lines += ["| " + r["model"] + " | " + " | ".join(f"{r[k]:.4f}" for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n", rows


def _plan(profile: str, fraction: float | None, seed: int | None, root: Path) -> dict[str, tuple[dict[str, Any], Path]]:
    """Every stage's overrides and run directory, each stage wired to its inputs' run directories."""
    plan: dict[str, tuple[dict[str, Any], Path]] = {}
    for name, spec in STAGES.items():  # in chain order: a stage's inputs come before it
        wired = {key: str(plan[source][1]) for key, source in spec.inputs.items()}
        if "fraction" in spec.options:
            wired["fraction"] = fraction
        overrides = {k: v for k, v in {"seed": seed, **wired}.items() if v is not None}
        plan[name] = overrides, default_run_dir(name, profile, load_config(name, profile, overrides), root)
    return plan


def _check(plan: dict[str, tuple[dict[str, Any], Path]], profile: str, resume: bool, data_root: str | None) -> None:
    """Before any work: every config, data folder and run directory of the chain."""
    for name, (overrides, run) in plan.items():
        cfg = load_config(name, profile, overrides)
        for spec in [*getattr(cfg, "rainy", []), *getattr(cfg, "clean", []), *getattr(cfg, "pairs", [])]:
            open_view(spec, data_root)
        check_run_dir(run, name, to_dict(cfg), resume and (run / CHECKPOINT).exists())
    open_dataset(EVAL_SET, data_root)


def run_all(profile: str = "tiny", fraction: float | None = None, seed: int | None = None,
            out: str | os.PathLike[str] = RUNS, resume: bool = False, device: str = "auto",
            data_root: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Run the chain at `profile` into `out`; returns every stage's summary and the table rows."""
    plan = _plan(profile, fraction, seed, Path(out))
    _check(plan, profile, resume, data_root)
    ctx = setup(device)
    try:
        summaries = {name: run_stage(name, profile, overrides, out=run, resume=resume and (run / CHECKPOINT).exists(),
                                     device=device, data_root=data_root, progress=progress, ctx=ctx)
                     for name, (overrides, run) in plan.items()}
        result: dict[str, Any] = {"stages": summaries}
        if ctx.main:
            table, rows = evaluation_table({k: plan[k][1] for k in ("distill", "finetune", "supervised")}, data_root,
                                           EVAL_LIMIT[profile], progress)
            (Path(out) / f"results-{profile}.md").write_text(table)
            result.update(table=table, rows=rows)
        return result
    finally:
        teardown(ctx)
