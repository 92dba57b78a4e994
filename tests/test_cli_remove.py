"""`derain remove` end to end through a subprocess, including every bad input of issue 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from derain.archs import create_model
from derain.io import Picture, read_picture, write_picture
from derain.paths import DEFAULT_MODEL
from derain.weights import save_model

from conftest import add_streaks, run_cli, scene


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    for i, ext in enumerate(["png", "jpg"]):
        write_picture(folder / f"img{i}.{ext}", Picture(add_streaks(scene(48, 64, seed=i), seed=i)))
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def assert_one_line_error(proc, match: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("derain: error:")]
    assert errors and any(match in line for line in errors), proc.stderr


def test_folder_to_output_dir(images: Path, tmp_path: Path) -> None:
    before = snapshot(images)
    out = tmp_path / "out"
    proc = run_cli("remove", str(images), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["img0.png", "img1.jpg"]
    assert read_picture(out / "img0.png").rgb.shape == (48, 64, 3)
    assert snapshot(images) == before  # inputs untouched


def test_beside_input_with_suffix_and_no_overwrite(images: Path) -> None:
    proc = run_cli("remove", str(images / "img0.png"))
    assert proc.returncode == 0, proc.stderr
    result = images / "img0_derained.png"
    first = result.read_bytes()
    again = run_cli("remove", str(images / "img0.png"))
    assert_one_line_error(again, "already exists")
    assert result.read_bytes() == first
    assert run_cli("remove", str(images / "img0.png"), "--overwrite").returncode == 0
    # a second run over the folder does not derain its own outputs again
    proc = run_cli("remove", str(images), "--overwrite")
    assert proc.returncode == 0 and "derained 2 of 2" in proc.stderr


def test_glob_and_16bit_alpha_preserved(tmp_path: Path) -> None:
    rgb = add_streaks(scene(40, 40))
    alpha = np.full((40, 40), 0.25, np.float32)
    write_picture(tmp_path / "a.png", Picture(rgb, alpha, 16))
    proc = run_cli("remove", str(tmp_path / "*.png"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    pic = read_picture(tmp_path / "o" / "a.png")
    assert pic.bit_depth == 16 and pic.alpha is not None and np.allclose(pic.alpha, 0.25, atol=1e-4)


def test_bad_inputs_do_not_stop_the_batch(images: Path, tmp_path: Path) -> None:
    (images / "empty.png").write_bytes(b"")
    (images / "text.jpg").write_bytes(b"not an image")
    good = images / "img0.png"
    (images / "trunc.png").write_bytes(good.read_bytes()[:200])
    out = tmp_path / "out"
    proc = run_cli("remove", str(images), str(tmp_path / "missing.png"), "-o", str(out))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    for name in ("empty.png", "text.jpg", "trunc.png", "missing.png"):
        assert name in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["img0.png", "img1.jpg"]  # no partial files


@pytest.mark.parametrize("case", ["missing", "empty_dir", "unknown_model", "wrong_arch", "bad_tile", "zero_bytes"])
def test_fatal_errors_are_one_line(case: str, images: Path, tmp_path: Path) -> None:
    args = [str(images / "img0.png"), "-o", str(tmp_path / "out")]
    if case == "missing":
        args[0] = str(tmp_path / "nope.png")
        match = "no such file"
    elif case == "empty_dir":
        (tmp_path / "empty").mkdir()
        args[0] = str(tmp_path / "empty")
        match = "contains no images"
    elif case == "unknown_model":
        args += ["--model", "no_such_model"]
        match = "unknown model"
    elif case == "wrong_arch":
        weights = tmp_path / "w.safetensors"
        save_model(weights, create_model("rain_unet_s"), "prenet")
        args += ["--model", str(weights)]
        match = "do not fit architecture"
    elif case == "bad_tile":
        args += ["--tile", "huge"]
        match = "--tile"
    else:
        (tmp_path / "zero.png").write_bytes(b"")
        args[0] = str(tmp_path / "zero.png")
        match = "empty file"
    proc = run_cli("remove", *args)
    assert_one_line_error(proc, match)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_dir_as_user(images: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    proc = run_cli("remove", str(images / "img0.png"), "-o", str(locked))
    assert_one_line_error(proc, "cannot write")


def test_unwritable_output_path(images: Path, tmp_path: Path) -> None:
    """An output 'folder' that is really a file cannot be written to, even by root."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("remove", str(images / "img0.png"), "-o", str(blocker / "sub"))
    assert_one_line_error(proc, "cannot write")
    assert blocker.read_text() == "x"


def test_help_and_models_list() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0 and "remove" in proc.stdout
    proc = run_cli("models")
    assert proc.returncode == 0 and "derain_student" in proc.stdout and "prenet" in proc.stdout
    assert f"the default, used without -m: {DEFAULT_MODEL}" in proc.stdout


@pytest.mark.parametrize("command", ["", "remove", "batch", "demo", "models", "serve", "eval", "train",
                                     "train supervised", "synth", "synth-video", "analyze", "setup-metrics",
                                     "export onnx"])
def test_help_does_not_import_torch(command: str) -> None:
    """Help of the commands that need no network until they run stays fast: torch (a second or
    more to import) is loaded by the work, not by the command's module."""
    code = ("import sys; from derain.cli import main; sys.argv = ['derain', *sys.argv[1:], '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, *command.split()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("False"), proc.stdout[-300:] + proc.stderr


@pytest.mark.parametrize("args", [["--temporal", "2", "--temporal-threshold", "nan"], ["--temporal-threshold", "inf"],
                                  ["--temporal-threshold", "-1"], ["--overlap", "-1"]])
def test_bad_numbers_are_one_line_usage_errors(images: Path, tmp_path: Path, args: list[str]) -> None:
    """Issue 30 item 3: NaN passes click's bounds (every comparison with it is false) and made black
    video frames with exit 0; inf is as wrong. Like a negative value, each is one line, exit 2,
    before any work."""
    proc = run_cli("remove", str(images / "img0.png"), "-o", str(tmp_path / "out"), *args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("derain: error:") and args[-2] in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_folder_runs_as_a_pipeline_with_the_outputs_and_messages_of_one_file_at_a_time(images: Path,
                                                                                        tmp_path: Path) -> None:
    """Issue 31: with several files and a core to spare (one network thread here), decoding the next
    photo and encoding the previous one overlap the network; the files written and the lines printed
    are those of one photo at a time."""
    write_picture(images / "img2.png", Picture(add_streaks(scene(40, 56, seed=2), seed=2), bit_depth=16))
    (images / "img0b.png").write_bytes(b"not a png")  # failures between good photos, in input order
    (images / "img1b.jpg").write_bytes(b"")
    proc = run_cli("remove", str(images), "-o", str(tmp_path / "all"), env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("derain: error:")]
    assert [Path(line.split()[2].rstrip(":")).name for line in errors] == ["img0b.png", "img1b.jpg"], proc.stderr
    assert "derained 3 of 5 images" in proc.stderr
    for name in ("img0.png", "img1.jpg", "img2.png"):
        one = run_cli("remove", str(images / name), "-o", str(tmp_path / "one"))
        assert one.returncode == 0, one.stderr
        assert (tmp_path / "all" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["img0.png", "img1.jpg", "img2.png"]


def test_png_compression_level(images: Path, tmp_path: Path) -> None:
    """Issue 31: PNGs are written at zlib level 1 unless asked; levels outside 0-9 are refused on one line."""
    sizes = {}
    for level in ("0", "9"):
        proc = run_cli("remove", str(images / "img0.png"), "-o", str(tmp_path / level), "--png-compression", level)
        assert proc.returncode == 0, proc.stderr
        sizes[level] = (tmp_path / level / "img0.png").stat().st_size
    assert sizes["0"] > 48 * 64 * 3 > sizes["9"]  # stored, then deflated
    assert np.array_equal(read_picture(tmp_path / "0" / "img0.png").rgb, read_picture(tmp_path / "9" / "img0.png").rgb)
    proc = run_cli("remove", str(images / "img0.png"), "-o", str(tmp_path / "bad"), "--png-compression", "10")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--png-compression" in proc.stderr, proc.stderr


def test_a_folder_gives_the_pipeline_a_core_for_photos_over_the_working_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 31: a photo derained at the working size leaves one core to decoding and encoding; a
    smaller one (full resolution: the network is most of its time) keeps every core, and a thread
    count set by OMP_NUM_THREADS is never changed."""
    import torch

    from derain.commands.remove import _Threads
    from derain.inference import load_model

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        torch.set_num_threads(2)
        threads = _Threads(load_model(work_size=640))
        threads.fit((3000, 4000, 3))
        assert torch.get_num_threads() == 1
        threads.fit((512, 768, 3))
        assert torch.get_num_threads() == 2
        _Threads(load_model(work_size=0)).fit((3000, 4000, 3))
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        _Threads(load_model(work_size=640)).fit((3000, 4000, 3))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
