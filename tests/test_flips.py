"""Averaging the streak pass over mirrored copies (`flips`, issue 28): what it computes, that tiles
still agree, where its default comes from, and bad values wherever a user can give them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import derain
from derain.archs import create_model
from derain.errors import DerainError
from derain.inference import Derainer
from derain.weights import save_model

from conftest import add_streaks, run_cli, scene


@pytest.fixture(scope="module")
def student() -> torch.nn.Module:
    """A random student that changes the photo (it starts as the identity) and is not mirror-symmetric."""
    torch.manual_seed(0)
    model = create_model("rain_unet_s").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model


def rainy(h: int, w: int) -> torch.Tensor:
    return torch.from_numpy(add_streaks(scene(h, w, seed=4), seed=4).transpose(2, 0, 1).copy())


@torch.no_grad()
def test_flips_average_the_mirrored_copies(student: torch.nn.Module) -> None:
    x = rainy(96, 128)  # on the network's 8-px grid: no padding, so the plain average is exact
    plain = student(x[None])[0].clamp(0, 1)
    lr = student(x.flip(-1)[None])[0].clamp(0, 1).flip(-1)
    ud, both = (student(x.flip(*a)[None])[0].clamp(0, 1).flip(*a) for a in ((-2,), (-2, -1)))
    assert (Derainer(student, tile=0, flips=2).restore(x) - (plain + lr) / 2).abs().max() < 1e-5
    assert (Derainer(student, tile=0, flips=4).restore(x) - (plain + lr + ud + both) / 4).abs().max() < 1e-5
    assert (lr - plain).abs().mean() > 1e-3  # the copies really differ, so the test can fail


@pytest.mark.parametrize("flips", [2, 4])
def test_tiles_agree_with_mirrored_copies_off_the_grid(student: torch.nn.Module, flips: int) -> None:
    """Copies are padded to the network's grid before mirroring, so a tile's mirrored copy sees the
    grid its neighbour's does: tiled and whole outputs differ only by what the overlap cannot see,
    as with one copy (an odd-sized photo, whose last tiles end off the grid)."""
    x = rainy(203, 301)
    one = [(Derainer(student, tile=t, overlap=48, flips=1).restore(x)) for t in (0, 128)]
    many = [(Derainer(student, tile=t, overlap=48, flips=flips).restore(x)) for t in (0, 128)]
    assert (many[0] - many[1]).abs().max() <= (one[0] - one[1]).abs().max() + 1e-4


def test_shipped_default_tiles_close_to_untiled_with_two_copies() -> None:
    """The seam bound of tests/test_inference.py holds with two copies as with one."""
    model = derain.load_model(tile=0, flips=2)
    x = rainy(300, 420)
    whole = model.restore(x)
    model.tile, model.overlap = 256, 96
    diff = (whole - model.restore(x)).abs()
    assert diff.mean().item() <= 0.05 / 255 and (diff > 2 / 255).float().mean().item() < 0.002


def test_the_default_comes_from_the_model_file(student: torch.nn.Module, tmp_path: Path) -> None:
    assert Derainer(student).flips == 1  # no word in the metadata: one copy, as before
    path = tmp_path / "two.safetensors"
    save_model(path, student, "rain_unet_s", {"flips": 2})
    assert derain.load_model(path).flips == 2
    assert derain.load_model(path, flips=1).flips == 1


@pytest.mark.parametrize("bad", [0, 3, 8, True, 2.0, "2"])
def test_bad_flips_are_refused(student: torch.nn.Module, bad: object) -> None:
    with pytest.raises(DerainError, match="flips must be 1, 2 or 4"):
        Derainer(student, flips=bad)  # type: ignore[arg-type]


def test_cli_flips_option(tmp_path: Path) -> None:
    src = tmp_path / "rain.png"
    Image.fromarray(np.uint8(add_streaks(scene(64, 80), 0) * 255)).save(src)
    res = run_cli("remove", str(src), "-m", "derain_streaks", "--flips", "2", "-o", str(tmp_path / "two"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "two" / "rain.png").is_file()
    for bad in ("3", "0", "abc"):
        res = run_cli("remove", str(src), "--flips", bad, "-o", str(tmp_path / "bad"))
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "--flips" in res.stderr
    assert not (tmp_path / "bad").exists()
