"""Shared fixtures: small synthetic images, made by the tests themselves."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def scene(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth colour scene with a few edges: float32 (H, W, 3) in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin(xx / 7 + yy / 11)], axis=2)
    img[h // 4: h // 2, w // 3: w // 2] = rng.uniform(0.2, 0.8, 3)
    return np.clip(img, 0, 1).astype(np.float32)


def add_streaks(img: np.ndarray, seed: int = 0, density: float = 0.02) -> np.ndarray:
    """Crude vertical rain: bright dashes, enough for tests that need 'rainy' inputs."""
    rng = np.random.default_rng(seed)
    out = img.copy()
    h, w = img.shape[:2]
    for _ in range(int(density * h * w / 8)):
        y, x = rng.integers(0, h - 8), rng.integers(0, w)
        out[y:y + 8, x] = np.minimum(1.0, out[y:y + 8, x] + 0.5)
    return out


def run_cli(*args: str, cwd: Path | None = None, max_file_bytes: int | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m derain ARGS` in a subprocess, capturing text output; `env` is added to ours.

    `max_file_bytes` stands for a full disk: a write that takes a file past it fails (EFBIG, where
    the disk would give ENOSPC; Python ignores the SIGXFSZ that comes with it).
    """
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run([sys.executable, "-m", "derain", *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          preexec_fn=limit if max_file_bytes is not None else None, env={**os.environ, **(env or {})})


@pytest.fixture
def rgb_scene() -> np.ndarray:
    return scene()


def default_sigint() -> None:
    """`preexec_fn` of a child the tests stop with SIGINT: a shell starts background jobs (`.ci/run &`)
    with SIGINT ignored, and children inherit that, so Ctrl-C would never reach them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
