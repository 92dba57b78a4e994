"""Run directories: naming, the checks before any work, and atomic small files.

`runs/<stage>-<profile>[-f<fraction>][-s<seed>]/` holds config.yaml (the resolved config),
data.json (which images were used), checkpoint.pt, log.jsonl/csv, curves.png, summary.json and,
for derainers, model.safetensors + model.json. A directory that already holds a checkpoint is
only ever continued (`--resume`, with the identical config), never overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from derain.atomic import atomic_write_text
from derain.errors import DerainError
from derain.training.checkpoint import CHECKPOINT, load_checkpoint


def run_name(stage: str, profile: str, fraction: float | None = None, seed: int = 0, tag: str = "") -> str:
    """`<stage>[-<tag>]-<profile>[-f<fraction>][-s<seed>]` (the seed only when it is not 0)."""
    name = f"{stage}-{tag}-{profile}" if tag else f"{stage}-{profile}"
    if fraction is not None:
        name += f"-f{fraction:g}"
    return name + (f"-s{seed}" if seed else "")


@dataclass
class RunDir:
    """One run's folder."""

    path: Path

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    def write_text(self, name: str, text: str) -> Path:
        """Write `name` inside the run atomically."""
        return atomic_write_text(self.path / name, text)

    def write_json(self, name: str, doc: Any) -> Path:
        return self.write_text(name, json.dumps(doc, indent=2) + "\n")


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def check_run_dir(path: Path, stage: str, config: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """Refuse to clobber a run; for `resume`, return its checkpoint after checking it matches."""
    ckpt = path / CHECKPOINT
    if not resume:
        if ckpt.exists():
            raise DerainError(f"{path} already holds a run (checkpoint.pt); pass --resume to continue it or --out for a new one")
        return None
    if not ckpt.exists():
        raise DerainError(f"{path}: nothing to resume (no checkpoint.pt); drop --resume to start the run")
    state = load_checkpoint(ckpt)
    if state["stage"] != stage:
        raise DerainError(f"{ckpt}: is a {state['stage']!r} checkpoint, not {stage!r}; resume it with its own stage")
    changed = _differences(state["config"], config)
    if changed:
        raise DerainError(f"{ckpt}: config changed since the run started ({', '.join(changed)}); "
                          "resume with the same options or use --out")
    return state
