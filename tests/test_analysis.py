"""The statistical study: each statistic answers constructed inputs; distances; `derain analyze`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from derain.analysis import image_statistics, parse_set, working_image
from derain.analysis.distances import domain_accuracy, frechet, mmd2, wasserstein, wilson_interval
from derain.analysis.stats import ORIENTATION_BINS, STATISTICS
from derain.errors import DerainError

SIZE = 256


def background(seed: int = 0) -> np.ndarray:
    """A smooth coloured picture in [0.2, 0.7]: no streaks, no noise, no texture."""
    rng = np.random.default_rng(seed)
    smooth = np.stack([ndimage.gaussian_filter(rng.random((SIZE, SIZE)), 12) for _ in range(3)], axis=2)
    return 0.2 + 0.5 * (smooth - smooth.min()) / (smooth.max() - smooth.min())


def texture(seed: int = 0) -> np.ndarray:
    """Background plus isotropic fine texture."""
    noise = np.random.default_rng(seed).normal(0, 0.15, (SIZE, SIZE, 3))
    return np.clip(background(seed) + ndimage.gaussian_filter(noise, (1, 1, 0)), 0, 1)


def streaks(img: np.ndarray, angle: float, width: float = 1.0, length: float = 30.0, count: int = 60, amp: float = 0.3,
            seed: int = 1) -> np.ndarray:
    """Add `count` bright segments at `angle` degrees (from horizontal, counter-clockwise on screen)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    dx, dy = np.cos(np.radians(angle)), -np.sin(np.radians(angle))  # image y points down
    layer = np.zeros((SIZE, SIZE))
    for cx, cy in rng.uniform(20, SIZE - 20, (count, 2)):
        along, across = (xs - cx) * dx + (ys - cy) * dy, -(xs - cx) * dy + (ys - cy) * dx
        layer = np.maximum(layer, ((np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)) * amp)
    return np.clip(img + layer[..., None], 0, 1)


def stats_of(img: np.ndarray) -> dict[str, float]:
    return image_statistics(img)[0]


# --- statistics ----------------------------------------------------------------------------


def test_every_statistic_is_finite_and_listed() -> None:
    stats, hist = image_statistics(streaks(texture(), 80))
    assert list(stats) == list(STATISTICS)
    assert all(np.isfinite(v) for v in stats.values())
    assert hist.shape == (ORIENTATION_BINS,) and hist.sum() == pytest.approx(1.0) and (hist >= 0).all()


@pytest.mark.parametrize("angle", [60, 90, 120, 20])
def test_orientation_peaks_at_the_drawn_angle(angle: int) -> None:
    stats, hist = image_statistics(streaks(background(), angle))
    assert np.argmax(hist) * 180 / ORIENTATION_BINS == angle
    assert stats["streak_angle"] == pytest.approx(angle, abs=1.5)
    assert stats["orientation_concentration"] > 0.95


def test_orientation_concentration_is_low_without_direction() -> None:
    assert stats_of(texture())["orientation_concentration"] < 0.1


@pytest.mark.parametrize(("width", "length"), [(1, 30), (2, 30), (3, 30), (1, 50)])
def test_streak_width_and_length(width: int, length: int) -> None:
    stats = stats_of(streaks(background(), 90, width=width, length=length, count=30))
    assert stats["streak_width"] == pytest.approx(width, abs=0.1)
    assert stats["streak_length"] == pytest.approx(length, abs=1.0)
    assert stats["streak_density"] > 2


def test_rain_layer_grows_with_the_rain() -> None:
    clean, light, heavy = background(), streaks(background(), 90, count=20), streaks(background(), 90, count=80)
    s0, s1, s2 = stats_of(clean), stats_of(light), stats_of(heavy)
    for key in ("rain_energy", "rain_coverage", "streak_density"):
        assert s0[key] < s1[key] < s2[key], key
    assert s0["rain_coverage"] == 0 and s0["streak_length"] == 0 and s0["rain_energy"] < 0.005
    assert s1["rain_intensity"] > 0.1  # 0.3-bright streaks stand well above the background


def test_sparsity_and_skewness_tell_streaks_from_noise() -> None:
    noisy = np.clip(background() + np.random.default_rng(3).normal(0, 0.03, (SIZE, SIZE, 1)), 0, 1)
    rain, noise = stats_of(streaks(background(), 90)), stats_of(noisy)
    assert rain["rain_sparsity"] > 0.5 > 0.3 > noise["rain_sparsity"]
    assert rain["rain_skewness"] > 2 and abs(noise["rain_skewness"]) < 0.2


def test_veil_raises_dark_channel_and_lowers_saturation_and_contrast() -> None:
    img = texture()
    veiled = 0.6 * img + 0.4 * 0.9  # t * I + (1 - t) * A
    s, v = stats_of(img), stats_of(veiled)
    assert v["dark_channel"] > s["dark_channel"] + 0.2
    assert v["saturation"] < 0.6 * s["saturation"]
    assert v["contrast"] == pytest.approx(0.6 * s["contrast"], rel=1e-6)
    assert v["brightness"] > s["brightness"]


@pytest.mark.parametrize("sigma", [0.01, 0.03])
def test_noise_sigma_measures_added_noise(sigma: float) -> None:
    gray_noise = np.random.default_rng(4).normal(0, sigma, (SIZE, SIZE, 1))
    noisy = background() + gray_noise  # stays inside [0, 1]: no clipping
    assert stats_of(noisy)["noise_sigma"] == pytest.approx(sigma, rel=0.08)
    assert stats_of(background())["noise_sigma"] < 0.001


def test_blur_rises_when_blurred() -> None:
    sharp = texture()
    blurred = ndimage.gaussian_filter(sharp, (1.5, 1.5, 0))
    assert stats_of(blurred)["blur"] > stats_of(sharp)["blur"] + 0.15
    assert stats_of(background())["blur"] > 0.9  # nothing but smooth shading


def test_statistics_do_not_modify_input() -> None:
    img = streaks(texture(), 70).astype(np.float32)
    before = img.copy()
    image_statistics(img)
    assert np.array_equal(img, before)


# --- working image and set specs -----------------------------------------------------------


def test_working_image_size_half_and_determinism() -> None:
    pair = np.zeros((300, 800, 3), np.float32)
    pair[:, :400, 0] = 1.0  # left red
    pair[:, 400:, 2] = 1.0  # right blue
    right = working_image(pair, "a.jpg", 256, seed=0, half="right")
    assert right.shape == (256, 256, 3) and right.dtype == np.float32
    assert right[..., 2].min() > 0.99 and right[..., 0].max() < 0.01
    assert working_image(pair, "a.jpg", 256, half="left")[..., 0].min() > 0.99
    ramp = np.tile(np.linspace(0, 1, 900, dtype=np.float32)[None, :, None], (300, 1, 3))
    crops = {working_image(ramp, name, 256).mean() for name in ("a.jpg", "b.jpg", "c.jpg")}
    assert len(crops) == 3  # the crop position depends on the file
    assert np.array_equal(working_image(ramp, "a.jpg", 256), working_image(ramp, "a.jpg", 256))
    with pytest.raises(DerainError, match="below the working size"):
        working_image(np.zeros((200, 900, 3), np.float32), "x.png", 256)


def test_parse_set() -> None:
    s = parse_set("rain800=data/rain800_train/concat:right")
    assert (s.name, s.folder, s.half) == ("rain800", Path("data/rain800_train/concat"), "right")
    s = parse_set("real=some:dir")
    assert (s.folder, s.half) == (Path("some:dir"), None)
    for bad in ("nodir", "=dir", "name=", "bad/name=dir"):
        with pytest.raises(DerainError):
            parse_set(bad)


# --- distances -----------------------------------------------------------------------------


def test_wilson_interval_known_value() -> None:
    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))


def test_distances_zero_for_same_distribution_and_grow_with_shift() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    shifted = b + np.array([2.0, 0, 0])
    assert wasserstein(a, shifted)[0] == pytest.approx(2.0, abs=0.15)
    assert wasserstein(a, b).max() < 0.2
    assert frechet(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet(a, shifted) == pytest.approx(4.0, abs=0.6)
    assert abs(mmd2(a, b, 1.0)) < 0.02 < 0.1 < mmd2(a, shifted, 1.0)


def test_domain_accuracy_separates_and_not() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 4)), rng.normal(size=(120, 4))
    same = domain_accuracy(a, b, seed=0)
    assert same.n == 240 and same.low < 0.5 < same.high
    apart = domain_accuracy(a, b + 3.0, seed=0)
    assert apart.accuracy > 0.95 and apart.low > 0.9
    assert domain_accuracy(a[:3], b, folds=5) is None


# --- command line ----------------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "derain", "analyze", *args], capture_output=True, text=True,
                          timeout=120)


def _save(path: Path, img: np.ndarray) -> None:
    Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sets")
    (root / "rainy").mkdir()
    (root / "clean").mkdir()
    (root / "pairs").mkdir()
    (root / "empty").mkdir()
    for i in range(6):
        _save(root / "rainy" / f"{i}.png", streaks(texture(i), 95, count=50, seed=i))
        _save(root / "clean" / f"{i}.jpg", texture(i + 10))
        _save(root / "pairs" / f"{i}.png",
              np.concatenate([texture(i + 20), streaks(texture(i + 20), 95, seed=i)], axis=1))
    (root / "rainy" / "broken.png").write_bytes(b"not a png")
    _save(root / "clean" / "tiny.png", texture()[:100])
    return root


def test_cli_writes_complete_report(folders: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    before = sorted(p.stat().st_mtime_ns for p in (folders / "rainy").iterdir())
    result = _run("--set", f"rainy={folders / 'rainy'}", "--set", f"clean={folders / 'clean'}",
                  "--set", f"pairs={folders / 'pairs'}:right", "--reference", "clean", "--folds", "3",
                  "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "skipped broken.png" in result.stderr and "skipped tiny.png" in result.stderr
    assert {p.name for p in out.iterdir()} == {"report.md", "statistics.csv", "orientation.csv", "distances.csv",
                                               "histograms.png", "orientation.png", "distances.png"}
    report = (out / "report.md").read_text()
    assert "derain analyze --set rainy=" in report and "derain version" in report and "data root" in report
    assert "| rainy |" in report and "1 unreadable" in report and "1 too small" in report
    assert "Distance of every set to `clean`" in report
    rows = (out / "statistics.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["set", "file", "rain_energy"] and len(rows) == 1 + 18
    assert sorted(p.stat().st_mtime_ns for p in (folders / "rainy").iterdir()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left
    # the right (rainy) half of the pair files has parallel streaks, the clean pictures do not
    values = {line.split(",")[0] + line.split(",")[1]: line.split(",") for line in rows[1:]}
    column = rows[0].split(",").index("orientation_concentration")
    assert float(values["pairs0.png"][column]) > 0.5 > 0.2 > float(values["clean0.jpg"][column])
    orientation = {line.split(",")[0]: np.array(line.split(",")[1:], float)
                   for line in (out / "orientation.csv").read_text().splitlines()[1:]}
    assert set(orientation) == {"rainy", "clean", "pairs"}
    assert np.argmax(orientation["rainy"]) * 5 == 95 and orientation["rainy"].sum() == pytest.approx(1.0, abs=1e-3)


def test_cli_empty_set_is_one_line_error(folders: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = _run("--set", f"rainy={folders / 'rainy'}", "--set", f"none={folders / 'empty'}", "--out", str(out))
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0 and "no images" in result.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_refuses_existing_report_and_bad_reference(folders: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    result = _run("--set", f"rainy={folders / 'rainy'}", "--out", str(out))
    assert result.returncode == 2 and "already exists" in result.stderr
    result = _run("--set", f"rainy={folders / 'rainy'}", "--reference", "nope", "--out", str(tmp_path / "r2"))
    assert result.returncode == 2 and "--reference" in result.stderr
    result = _run("--set", f"a={folders / 'rainy'}", "--set", f"a={folders / 'clean'}", "--out", str(tmp_path / "r3"))
    assert result.returncode == 2 and "more than once" in result.stderr
