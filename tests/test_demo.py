"""`derain demo` through a subprocess: the first run needs no data folder and nothing downloaded."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from derain.io import read_rgb

from conftest import run_cli

OUTPUTS = ("rainy.png", "derained.png", "side_by_side.png")


def test_demo_writes_the_pictures_and_a_positive_gain(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = run_cli("demo", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    for name in OUTPUTS:
        assert str(out / name) in proc.stdout
    rainy, derained, side = (read_rgb(out / name) for name in OUTPUTS)
    h, w = rainy.shape[:2]
    assert derained.shape == rainy.shape and side.shape == (h, 3 * w, 3)
    before, after, gain = map(float, re.search(r"([\d.]+) dB -> ([\d.]+) dB \(\+([\d.]+) dB\)", proc.stdout).groups())
    assert gain > 0 and abs(after - before - gain) < 0.011


def test_demo_refuses_to_overwrite_without_the_flag(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "derained.png").write_bytes(b"mine")
    proc = run_cli("demo", "-o", str(out))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "already exists (use --overwrite" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["derained.png"] and (out / "derained.png").read_bytes() == b"mine"
    proc = run_cli("demo", "-o", str(out), "--overwrite", "--preset", "light")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)


def test_demo_output_under_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("demo", "-o", str(blocker / "sub"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("derain: error:") and "cannot write" in line]
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_demo_unwritable_output_dir_as_user(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    proc = run_cli("demo", "-o", str(locked))
    assert proc.returncode != 0 and "cannot write" in proc.stderr and "Traceback" not in proc.stderr
    assert not any(locked.iterdir())
