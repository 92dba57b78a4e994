"""Atomic file writes: a temporary file beside the target, renamed into place.

Every file the project writes for a user (images, model weights, checkpoints, logs, reports) goes
through here, so a crash, a full disk or a bad input never leaves a partial or clobbered file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(target: str | os.PathLike[str], write: Callable[[Path], object], suffix: str = "") -> Path:
    """Call `write(tmp)` on a fresh temporary path in `target`'s folder, then rename it to `target`.

    `suffix` keeps the extension on the temporary name for writers that infer the format from it.
    The temporary file is removed whatever happens; the folder must exist.
    """
    target = Path(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o644)  # a file for the user, not a private temporary (mkstemp makes it 0600)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Atomically replace `target` with `text`."""
    return atomic_write(target, lambda p: p.write_text(text))


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically replace `target` with `data`."""
    return atomic_write(target, lambda p: p.write_bytes(data))
