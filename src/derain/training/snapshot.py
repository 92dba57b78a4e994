"""Snapshots: an unfinished run's progress in a form small enough to keep in git.

A session's machine, and the run folders on it, may be gone by the next session, while a full
budget takes several sessions. A snapshot is what carries a run across: the trained weights and
their moving average, the step and the RNG state, beside the run's config, data list and log.
It leaves out the optimizer's moments (twice the weights again) and the frozen parts that a stage
rebuilds from their own model files (teachers, fine-tuning's anchor). A run continued from a
snapshot (`--resume-from`) starts Adam afresh and ramps its learning rate up again over the
config's `warmup` steps, so the fresh moments cannot jolt the weights; everything else (data of
every step, schedule, EMA, log) continues as if the run had never stopped.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save

from derain.archs import create_model
from derain.atomic import atomic_write
from derain.errors import DerainError
from derain.training.checkpoint import load_checkpoint
from derain.weights import save_model

SNAPSHOT = "snapshot.safetensors"
# Submodules a stage rebuilds from their own sources when it is built: not part of a snapshot.
FROZEN = ("teachers.", "anchor.")
# Run files that travel with a snapshot (the log, so curves and validations span sessions).
RUN_FILES = ("config.yaml", "data.json", "log.jsonl", "log.csv", "curves.png")
_KEY = "derain_snapshot"


def snapshot_path(ref: str | Path) -> Path:
    """A snapshot file, or the one inside a folder."""
    path = Path(ref)
    return path / SNAPSHOT if path.is_dir() else path


def write_snapshot(run_dir: str | Path, dest: str | Path) -> dict[str, Any]:
    """Write the snapshot of `run_dir`'s last checkpoint, and its run files, into folder `dest`."""
    state = load_checkpoint(run_dir)
    if state["done"]:
        raise DerainError(f"{state['path']}: that run is finished; ship its model file instead of a snapshot")
    tensors = {f"model.{k}": v for k, v in state["model"].items() if not k.startswith(FROZEN)}
    tensors |= {f"ema.{k}": v for k, v in state.get("ema", {}).items()}
    tensors["torch_rng"] = state["torch_rng"]
    meta = {k: state[k] for k in ("stage", "arch", "step", "steps", "seconds", "config")}
    meta["restart"] = state.get("restart")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(dest / SNAPSHOT, lambda p: p.write_bytes(save(tensors, metadata={_KEY: json.dumps(meta)})))
    source = Path(state["path"]).parent
    for name in RUN_FILES:
        if (source / name).is_file() and (source / name).resolve() != (dest / name).resolve():
            atomic_write(dest / name, lambda p, f=source / name: shutil.copyfile(f, p))
    return meta


def snapshot_info(ref: str | Path) -> dict[str, Any]:
    """A snapshot's stage, arch, step, steps, seconds and config, without reading its tensors."""
    path = snapshot_path(ref)
    if not path.is_file():
        raise DerainError(f"{path}: no snapshot there (write one with `derain train snapshot RUN_DIR -o FOLDER`)")
    try:
        with safe_open(str(path), framework="pt") as fh:
            return json.loads((fh.metadata() or {})[_KEY])
    except (SafetensorError, OSError, ValueError, KeyError) as exc:
        raise DerainError(f"{path}: not a derain training snapshot ({type(exc).__name__})") from exc


def read_snapshot(ref: str | Path) -> dict[str, Any]:
    """A snapshot as a resume state: like a checkpoint's, without "optimizer"; one-line errors."""
    meta, path = snapshot_info(ref), snapshot_path(ref)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise DerainError(f"{path}: not a derain training snapshot ({type(exc).__name__})") from exc

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    ema = part("ema.")
    return {**meta, "model": part("model."), **({"ema": ema} if ema else {}), "torch_rng": tensors["torch_rng"],
            "done": False, "path": str(path)}


def export_checkpoint(run_dir: str | Path, out: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """A model file of the network in `run_dir`'s last checkpoint, or in a snapshot (file or folder),
    the EMA if the run keeps one.

    For looking at a run before it ends (`derain eval -m FILE`); a finished run exports its own.
    """
    state = read_snapshot(run_dir) if snapshot_path(run_dir).is_file() else load_checkpoint(run_dir)
    net = create_model(state["arch"])
    weights = state.get("ema") or {k[len("net."):]: v for k, v in state["model"].items() if k.startswith("net.")}
    net.load_state_dict(weights)
    meta = {"stage": state["stage"], "step": state["step"], "steps": state["steps"], "finished": state["done"],
            "averaged": "ema" in state, "run_dir": str(Path(run_dir)), "config": state["config"]}
    save_model(out, net, state["arch"], meta, overwrite=overwrite)
    return meta
