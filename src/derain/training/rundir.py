"""Run directories: naming, the checks before any work, and atomic small files.

`runs/<stage>-<profile>[-f<fraction>][-s<seed>]/` holds config.yaml (the resolved config),
data.json (which images were used), checkpoint.pt, log.jsonl/csv, curves.png, summary.json and,
for derainers, model.safetensors + model.json. A directory that already holds a checkpoint is
only ever continued (`--resume`, with the identical config), never overwritten. A config key added
to the code after a run started is no change while it keeps its default, so a run survives code
changes that do not change what it trains.
"""

from __future__ import annotations

import fcntl
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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

    def lock(self) -> IO[bytes]:
        """Hold the run's lock for as long as the returned file stays open (one trainer per run).

        Two processes resuming the same run would interleave their checkpoints; the second is
        refused instead. The lock is the operating system's, so it dies with its process.
        """
        handle = open(self.path / ".lock", "ab")  # noqa: SIM115 - held open on purpose
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise DerainError(f"{self.path}: another process is training this run right now; "
                              "wait for it, or use --out for a new run") from exc
        return handle

    def write_text(self, name: str, text: str) -> Path:
        """Write `name` inside the run atomically."""
        return atomic_write_text(self.path / name, text)

    def write_json(self, name: str, doc: Any) -> Path:
        return self.write_text(name, json.dumps(doc, indent=2) + "\n")


def _differences(old: dict[str, Any], new: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """Keys whose values differ; a key the old run did not know yet is no difference at its default."""
    return [k for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k) and not (k not in old and k in defaults and new.get(k) == defaults[k])]


def check_run_dir(path: Path, stage: str, config: dict[str, Any], resume: bool,
                  defaults: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Refuse to clobber a run; for `resume`, return its checkpoint after checking it matches."""
    ckpt = path / CHECKPOINT
    if not resume:
        if ckpt.exists():
            raise DerainError(f"{path} already holds a run (checkpoint.pt); pass --resume to continue it "
                              "or --out for a new one")
        return None
    if not ckpt.exists():
        raise DerainError(f"{path}: nothing to resume (no checkpoint.pt); drop --resume to start the run")
    return check_continues(load_checkpoint(ckpt), stage, config, defaults)


def check_continues(state: dict[str, Any], stage: str, config: dict[str, Any],
                    defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """`state` (a checkpoint's or a snapshot's) if this stage and config may continue it."""
    where = state["path"]
    if state["stage"] != stage:
        raise DerainError(f"{where}: is a {state['stage']!r} run, not {stage!r}; resume it with its own stage")
    changed = _differences(state["config"], config, defaults or {})
    if changed:
        raise DerainError(f"{where}: config changed since the run started ({', '.join(changed)}); "
                          "resume with the same options or use --out")
    return state
