"""The evaluation harness on tiny paired and unpaired folders made by the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from derain import metrics
from derain.evaluation.harness import evaluate
from derain.inference import load_model
from derain.io import Picture, read_rgb, write_picture
from derain.metrics.color import to_uint8

from conftest import add_streaks, run_cli, scene


@pytest.fixture
def paired(tmp_path: Path) -> Path:
    for i in range(3):
        clean = scene(48, 64, seed=i)
        write_picture(tmp_path / "set" / "clean" / f"{i}.png", Picture(clean))
        write_picture(tmp_path / "set" / "rainy" / f"{i}.png", Picture(add_streaks(clean, seed=i)))
    return tmp_path / "set"


def test_input_baseline_matches_direct_metrics(paired: Path) -> None:
    report = evaluate(None, str(paired), model_name="input", progress=False)
    assert [r["image"] for r in report.rows] == ["0.png", "1.png", "2.png"]
    for row in report.rows:
        rainy = to_uint8(read_rgb(paired / "rainy" / row["image"]))
        clean = to_uint8(read_rgb(paired / "clean" / row["image"]))
        assert row["psnr_y"] == pytest.approx(metrics.psnr(rainy, clean, channel="y"))
        assert row["ssim_y"] == pytest.approx(metrics.ssim(rainy, clean, channel="y"))
        assert row["psnr_rgb"] == pytest.approx(metrics.psnr(rainy, clean, channel="rgb"))
        assert row["darkened"] == 0.0  # the input is not darker than itself
    assert report.mean["psnr_y"] == pytest.approx(np.mean([r["psnr_y"] for r in report.rows]))


def test_report_files_and_side_by_side(paired: Path, tmp_path: Path) -> None:
    report = evaluate(load_model(), str(paired), model_name="student", save_images=tmp_path / "img", progress=False)
    out = report.write(tmp_path / "report")
    data = json.loads((out / "results.json").read_text())
    assert data["images"] == 3 and set(data["mean"]) == {"psnr_y", "ssim_y", "psnr_rgb", "darkened", "seconds"}
    assert (out / "results.csv").read_text().splitlines()[0] == "image,psnr_y,ssim_y,psnr_rgb,darkened,seconds"
    assert all(0 <= row["darkened"] <= 1 for row in data["rows"])
    assert "| **mean** |" in (out / "results.md").read_text()
    assert read_rgb(tmp_path / "img" / "0.png").shape == (48, 3 * 64, 3)


def test_unpaired_set_gets_no_reference_metrics(tmp_path: Path) -> None:
    for i in range(2):
        write_picture(tmp_path / "real" / f"{i}.png", Picture(add_streaks(scene(128, 128, seed=i), seed=i)))
    report = evaluate(None, str(tmp_path / "real"), model_name="input", progress=False)
    assert report.metrics == ("niqe", "brisque", "darkened")
    assert all(np.isfinite(r["niqe"]) and np.isfinite(r["brisque"]) for r in report.rows)


def test_eval_cli(paired: Path, tmp_path: Path) -> None:
    proc = run_cli("eval", "-m", "input", "-d", str(paired), "-o", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    assert "psnr_y=" in proc.stdout and (tmp_path / "r" / "results.md").is_file()
    proc = run_cli("eval", "-m", "input", "-d", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "neither a known dataset" in proc.stderr and "Traceback" not in proc.stderr


def test_fidelity_scores_each_output_against_its_own_rain_free_input(paired: Path, tmp_path: Path) -> None:
    """A paired set's clean halves go in; the scores are of the output against them, not of the rainy halves."""
    model = load_model()
    report = evaluate(model, str(paired), model_name="student", progress=False, fidelity=True)
    assert report.metrics == ("psnr_y", "ssim_y", "psnr_rgb", "darkened") and report.dataset.endswith("(fidelity)")
    for row in report.rows:
        clean = read_rgb(paired / "clean" / row["image"])
        assert row["psnr_y"] == pytest.approx(metrics.psnr(to_uint8(model.remove(clean)), to_uint8(clean), channel="y"))
    unchanged = evaluate(None, str(paired / "clean"), model_name="input", progress=False, fidelity=True)
    assert unchanged.metrics == report.metrics and all(np.isinf(r["psnr_y"]) for r in unchanged.rows)


def test_eval_cli_fidelity_on_a_folder_of_photos(paired: Path, tmp_path: Path) -> None:
    proc = run_cli("eval", "-m", "input", "-d", str(paired / "clean"), "--fidelity", "-o", str(tmp_path / "f"))
    assert proc.returncode == 0, proc.stderr
    assert "psnr_y=inf" in proc.stdout
    assert json.loads((tmp_path / "f" / "results.json").read_text())["images"] == 3


def test_eval_cli_replaces_an_earlier_report_only_with_overwrite(paired: Path, tmp_path: Path) -> None:
    """Issue 30 item 4: an earlier report and its side-by-side images were silently replaced; they are
    refused before any scoring, as `derain remove` refuses an existing output. A fresh or empty
    folder (what experiments/ passes) needs no --overwrite."""
    out = tmp_path / "r"
    out.mkdir()
    args = ("eval", "-m", "input", "-d", str(paired), "-o", str(out), "--save-images")
    assert run_cli(*args).returncode == 0
    (out / "results.md").write_text("mine\n")
    proc = run_cli(*args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "results.md: already exists (use --overwrite" in proc.stderr
    assert (out / "results.md").read_text() == "mine\n"
    for name in ("results.md", "results.csv", "results.json"):
        (out / name).unlink()
    (out / "images" / "0.png").write_bytes(b"mine")
    proc = run_cli(*args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--overwrite" in proc.stderr, proc.stderr
    assert (out / "images" / "0.png").read_bytes() == b"mine" and not (out / "results.md").exists()
    assert run_cli(*args, "--overwrite").returncode == 0
    assert (out / "results.md").read_text() != "mine\n" and read_rgb(out / "images" / "0.png").shape == (48, 192, 3)


def test_a_full_disk_leaves_no_report_and_one_line(paired: Path, tmp_path: Path) -> None:
    """Issue 30 item 6: a disk that filled up while the report was written ended in "internal error:
    OSError" and left results.md without its csv and json. The three tables now appear together or
    not at all, and the error is one line (exit 2)."""
    out = tmp_path / "r"
    # results.md and results.csv of 3 images are under 600 bytes, results.json is over: it fills the disk
    proc = run_cli("eval", "-m", "input", "-d", str(paired), "-o", str(out), max_file_bytes=600)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("derain:")] == [
        f"derain: error: {out / 'results.json'}: cannot write (File too large)"]
    assert list(out.iterdir()) == []
