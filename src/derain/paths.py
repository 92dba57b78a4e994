"""Where the data lives: one configurable root, never copied into the project.

Order: the `DERAIN_DATA` environment variable, else `../shared/data` beside the repository (the
layout of the development machines and CI). Commands also take `--data-root`. Third-party
reference weights (official PReNet and BRN files) are found the same way under `DERAIN_PEERS`.
"""

from __future__ import annotations

import os
from pathlib import Path

from derain.errors import DerainError

_REPO = Path(__file__).resolve().parents[2]
# The shipped model every command uses without -m: the one the ship rules of docs/DECISIONS.md picked
# (experiments/results.py ship checks it); it removes streaks, and vapour only when asked (--vapour).
# Here, not in weights.py, so the CLI can name it without torch.
DEFAULT_MODEL = "derain_streaks_vapour"
# The shorter side (px) at which the engine derains a larger photo, its change applied at full
# resolution (derain.inference); 0: every photo at full resolution. docs/DECISIONS.md says why.
WORK_SIZE = 640


def data_root(override: str | os.PathLike[str] | None = None) -> Path:
    """Return the data root, checking that it exists."""
    root = Path(override or os.environ.get("DERAIN_DATA") or _REPO.parent / "shared" / "data")
    if not root.is_dir():
        raise DerainError(f"data root {root} does not exist; set DERAIN_DATA or pass --data-root")
    return root


def peers_root() -> Path:
    """Folder of third-party reference weights: `DERAIN_PEERS`, else `../shared/peers` beside the repo."""
    return Path(os.environ.get("DERAIN_PEERS") or _REPO.parent / "shared" / "peers")
