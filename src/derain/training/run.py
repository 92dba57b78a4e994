"""Run one stage from a profile or config file: checks first, then the run directory, then training.

Everything a user can get wrong (config keys and values, data folders, the checkpoints a stage
starts from, an existing or mismatched run directory) is checked before the run directory is
created or anything is written.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from derain.errors import DerainError
from derain.training.config import PROFILES, STAGES, DistillConfig, TrainConfig, defaults, load_config, to_dict
from derain.training.distributed import DistContext, barrier, setup, teardown
from derain.training.loop import Stage, train
from derain.training.rundir import RunDir, check_continues, check_run_dir, run_name
from derain.training.snapshot import read_snapshot

RUNS = Path("runs")


def build_stage(stage: str, cfg: TrainConfig, data_root: str | None) -> Stage:
    """Construct the stage object: opens its data and the model files it starts from."""
    module, cls = STAGES[stage].stage.split(":")
    return getattr(importlib.import_module(module), cls)(stage, cfg, data_root)


def default_run_dir(stage: str, profile: str, cfg: TrainConfig, root: Path = RUNS, arch_given: bool = False) -> Path:
    """`runs/<stage>[-<tag>]-<profile>[-f<fraction>][-s<seed>]`; the tag names ablations.

    e.g. `supervised-prenet-full-f0.1` (architecture given on the command line), `distill-only-a-full`.
    """
    tags = [cfg.arch] if arch_given else []
    if isinstance(cfg, DistillConfig) and None in (cfg.teacher_recognition, cfg.teacher_reconstruction):
        tags.append("only-b" if cfg.teacher_recognition is None else "only-a")
    return root / run_name(stage, profile, getattr(cfg, "fraction", None), cfg.seed, "-".join(tags))


def run_stage(stage: str, source: str | os.PathLike[str] = "tiny", overrides: dict[str, Any] | None = None, *,
              out: str | os.PathLike[str] | None = None, resume: bool = False, device: str = "auto",
              data_root: str | None = None, stop_at: int | None = None, progress: bool = True,
              ctx: DistContext | None = None, resume_from: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Train `stage` with the profile (`tiny`/`full`) or YAML file `source`; returns the summary.

    `resume_from`: a snapshot (file or folder, see `snapshot.py`) that a new run folder continues.
    `ctx` is the process group of a caller running several stages; without it, one is set up
    (and torn down) here.
    """
    if stop_at is not None and stop_at < 1:
        raise DerainError(f"stop_at must be >= 1, got {stop_at}")
    cfg = load_config(stage, source, overrides)
    profile = str(source) if str(source) in PROFILES else Path(source).stem
    own = ctx is None
    ctx = setup(device) if ctx is None else ctx
    lock = None
    try:
        arch_given = "arch" in (overrides or {})
        run = RunDir(Path(out) if out is not None else default_run_dir(stage, profile, cfg, arch_given=arch_given))
        if resume and resume_from is not None:
            raise DerainError("give either --resume (a run folder's checkpoint) or --resume-from (a snapshot), "
                              "not both")
        resume_state = check_run_dir(run.path, stage, to_dict(cfg), resume, defaults(STAGES[stage].config))
        if resume_from is not None:
            resume_state = check_continues(read_snapshot(resume_from), stage, to_dict(cfg),
                                           defaults(STAGES[stage].config))
        torch.manual_seed(cfg.seed)  # the initial weights are drawn while building the stage
        job = build_stage(stage, cfg, data_root)
        barrier(ctx)
        if ctx.main:
            run.path.mkdir(parents=True, exist_ok=True)
            lock = run.lock()
            header = f"# derain train {stage}: resolved config of profile {profile!r} (usable as --config)\n"
            run.write_text("config.yaml", header + yaml.safe_dump(to_dict(cfg), sort_keys=False))
            run.write_json("data.json", job.provenance())
            if resume_from is not None:  # the log of the steps before the snapshot, cut back to it by `train`
                log = Path(resume_state["path"]).parent / "log.jsonl"
                if log.is_file() and log.resolve() != (run.path / "log.jsonl").resolve():
                    shutil.copyfile(log, run.path / "log.jsonl")
        barrier(ctx)
        return train(job, run, ctx, resume_state, stop_at, progress, profile)
    finally:
        if lock is not None:
            lock.close()
        if own:
            teardown(ctx)
