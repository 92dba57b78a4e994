"""`derain train <stage>`: one subcommand per stage, plus `all` for the whole chain.

Every subcommand takes a profile (`--profile tiny|full`) or a YAML file (`--config`), writes into
`runs/<stage>-<profile>[-f<fraction>][-s<seed>]/` unless `--out` says otherwise, and continues a
killed run with `--resume`. Run it under `torchrun --nproc-per-node N -m derain train ...` for
several processes (gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

# OpenMP threads that spin while waiting make training 6-20x slower as soon as other processes
# share the cores (measured on a 2-core machine); passive waiting costs little when it is quiet.
# It only takes effect if set before torch is first imported, which this module does not do.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from derain.training.config import PROFILES, STAGES, StageSpec  # noqa: E402

_COMMON = [
    click.option("--profile", type=click.Choice(PROFILES), default="tiny", show_default=True,
                 help="Shipped config to use."),
    click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config instead of a profile."),
    click.option("--seed", type=click.IntRange(min=0), help="Override the config's seed."),
    click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/<stage>-<profile>...)."),
    click.option("--resume", is_flag=True, help="Continue the run in the run directory from its checkpoint."),
    click.option("--resume-from", type=click.Path(exists=True),
                 help="Continue a run from a snapshot (file or folder) in a new run directory; Adam restarts."),
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
    click.option("--data-root", type=click.Path(file_okay=False),
                 help="Data root (default $DERAIN_DATA or ../shared/data)."),
    click.option("--stop-at", type=click.IntRange(min=1),
                 help="Checkpoint and stop after this step (continue later with --resume)."),
    click.option("--quiet", is_flag=True, help="No progress bar."),
    click.option("--threads", type=click.IntRange(min=1),
                 help="CPU threads per process (default: torch's; 1 on a busy machine)."),
]


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_COMMON):
        fn = option(fn)
    return fn


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, threads))


def _run(stage: str, profile: str, config_path: str | None, seed: int | None, out: str | None, resume: bool,
         resume_from: str | None, device: str, data_root: str | None, stop_at: int | None, quiet: bool,
         threads: int | None, **overrides: Any) -> None:
    from derain.training.run import run_stage

    _set_threads(threads)
    given = {k: None if v == "none" else v for k, v in {"seed": seed, **overrides}.items() if v is not None}
    summary = run_stage(stage, config_path or profile, given, out=out, resume=resume, resume_from=resume_from,
                        device=device, data_root=data_root, stop_at=stop_at, progress=not quiet)
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun, rank 0 reports
    if summary.get("done"):
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in summary["metrics"].items())
        click.echo(f"{stage}: {summary['steps']} steps in {summary['seconds']:.1f} s -> {summary['run_dir']}"
                   + (f" ({metrics})" if metrics else ""))
    else:
        click.echo(f"{stage}: stopped at step {summary['step']} of {summary['steps']} -> {summary['run_dir']} "
                   "(--resume to continue)")


@click.group()
def train() -> None:
    """Train the teachers, distil the student, fine-tune it (task transfer), or the baselines."""


def _stage_command(name: str, spec: StageSpec) -> click.Command:
    """`derain train NAME`: the common options, one per input stage, and the stage's own options."""
    def command(**kw: Any) -> None:
        _run(name, **kw)

    for key, source in reversed(spec.inputs.items()):
        command = click.option(f"--{key.replace('_', '-')}", key,
                               help=f"Run directory or model file of {source} ('none': without it).")(command)
    for key, (kind, text) in reversed(spec.options.items()):
        command = click.option(f"--{key.replace('_', '-')}", key, type=kind, help=text)(command)
    return train.command(name, help=spec.help)(_common(command))


for _name, _spec in STAGES.items():
    _stage_command(_name, _spec)


@train.command("all")
@click.option("--profile", type=click.Choice(PROFILES), default="tiny", show_default=True,
              help="Profile of every stage.")
@click.option("--fraction", type=float, help="Share of the paired pool for finetune and supervised.")
@click.option("--seed", type=click.IntRange(min=0), help="Override every stage's seed.")
@click.option("--out", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Folder of the run directories.")
@click.option("--resume", is_flag=True, help="Keep finished stages, continue an interrupted one.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--data-root", type=click.Path(file_okay=False),
              help="Data root (default $DERAIN_DATA or ../shared/data).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--threads", type=click.IntRange(min=1),
              help="CPU threads per process (default: torch's; 1 on a busy machine).")
def all_stages(profile: str, fraction: float | None, seed: int | None, out: str, resume: bool, device: str,
               data_root: str | None, quiet: bool, threads: int | None) -> None:
    """The whole chain (teachers, distillation, fine-tuning, supervised baseline), then a table."""
    from derain.training.chain import run_all

    _set_threads(threads)
    result = run_all(profile, fraction, seed, out, resume, device, data_root, progress=not quiet)
    if "table" in result:
        click.echo(result["table"], nl=False)


@train.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False),
              help="Folder to write snapshot.safetensors and the run's config, data list and log into.")
def snapshot(run_dir: str, out: str) -> None:
    """Save an unfinished run's progress (weights, EMA, step, log; no optimizer) to carry it to another machine."""
    from derain.training.snapshot import write_snapshot

    meta = write_snapshot(run_dir, out)
    click.echo(f"{meta['stage']}: step {meta['step']} of {meta['steps']} -> {out} "
               f"(continue with: derain train {meta['stage']} ... --resume-from {out})")


@train.command("export")
@click.argument("run_dir", type=click.Path(exists=True))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="Model file to write (.safetensors; a .json with its metadata is written beside it).")
@click.option("--overwrite", is_flag=True, help="Replace an existing model file.")
def export_model(run_dir: str, out: str, overwrite: bool) -> None:
    """Write the network of a run's last checkpoint or of a snapshot (its EMA, if any) as a model file."""
    from derain.training.snapshot import export_checkpoint

    meta = export_checkpoint(run_dir, out, overwrite)
    click.echo(f"{meta['stage']}: step {meta['step']} of {meta['steps']} -> {out}")
