"""Training checkpoints: plain tensors and primitives, written atomically, read without pickle code.

A checkpoint holds the stage, architecture and resolved config it belongs to, the step reached,
the trainable weights (network and adapters), the optimizer state and the RNG state. It is
replaced in one `os.replace`, so a run killed at any moment keeps the previous one intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from derain.atomic import atomic_write
from derain.errors import DerainError

CHECKPOINT = "checkpoint.pt"
FORMAT = 1
RECOVER = ("to recover, start the run afresh (delete that run folder or give another with --out) "
           "or point to another run folder")


def checkpoint_path(ref: str | os.PathLike[str]) -> Path:
    """A checkpoint file, or the one inside a run directory."""
    path = Path(ref)
    return path / CHECKPOINT if path.is_dir() else path


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` through a temporary file and an atomic rename."""
    atomic_write(path, lambda tmp: torch.save({"format": FORMAT, **state}, tmp))


def load_checkpoint(ref: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint (tensors and plain containers only); one-line error otherwise."""
    path = checkpoint_path(ref)
    if not path.is_file():
        raise DerainError(f"{path}: no checkpoint there (run that stage first, or give the run directory)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file for the user
        raise DerainError(f"{path}: not a derain training checkpoint ({type(exc).__name__}); {RECOVER}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DerainError(f"{path}: not a derain training checkpoint (expected format {FORMAT}); {RECOVER}")
    state["path"] = str(path)
    return state
