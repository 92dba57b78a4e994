"""Rain synthesiser: determinism, parameter ranges, streak geometry, composition, CLI behaviour."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from derain.errors import DerainError
from derain.formation import streaks_on, veil
from derain.io import read_rgb, write_rgb
from derain.synth import (
    Preset, RainParams, StreakLayer, list_presets, load_preset, make_sidecar, pair_seed, render, render_from_sidecar,
    render_pair, sample_params, streak_kernel,
)
from derain.synth.params import DOMAINS
from derain.synth.preset import LAYER_DEFAULTS
from derain.synth.render import render_layer

from conftest import run_cli, scene

SHIPPED = ("light", "medium", "heavy", "real")


def plain(**over: object) -> RainParams:
    """One vertical layer, no veil, noise or JPEG, with fields overridden by `over`."""
    layer = {"density": 0.01, "angle": 0.0, "length": 15.0, "width": 1.5, "intensity": 0.8}
    layer.update({k: v for k, v in over.items() if k in layer})
    return RainParams(layers=(StreakLayer(**layer),), **{k: v for k, v in over.items() if k not in layer})


def orientation(img: np.ndarray) -> float:
    """Dominant streak direction from the structure tensor, in degrees from vertical (our convention).

    The image is smoothed first: central differences on 1-pixel lines are biased toward diagonals.
    """
    gy, gx = np.gradient(ndimage.gaussian_filter(img.astype(np.float64), 1.5))
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    grad = 0.5 * math.atan2(2 * jxy, jxx - jyy)  # gradient direction; streaks run across it
    dx, dy = -math.sin(grad), math.cos(grad)
    return (math.degrees(math.atan2(dx, dy)) + 90) % 180 - 90


def same_orientation(a: float, b: float) -> float:
    return abs((a - b + 90) % 180 - 90)


# ---- parameters and presets -------------------------------------------------------------------

def test_shipped_presets_are_listed_and_load() -> None:
    assert set(SHIPPED) <= set(list_presets())
    for name in SHIPPED:
        assert isinstance(load_preset(name), Preset)


@pytest.mark.parametrize("name", SHIPPED)
def test_sampled_parameters_stay_inside_preset_ranges(name: str) -> None:
    preset = load_preset(name)
    rng = np.random.default_rng(123)
    lo_hi = {k: (min(d.support()), max(d.support())) for k, d in preset.globals.items() if k != "blend"}
    for _ in range(300):
        params = sample_params(preset, rng)
        for key, (lo, hi) in lo_hi.items():
            if key != "angle":
                assert lo <= getattr(params, key) <= hi, key
        assert 1 <= len(params.layers) <= len(preset.layers)
        for layer in params.layers:
            for key in ("density", "length", "width", "intensity", "defocus"):
                spans = [(min(spec[key].support()), max(spec[key].support())) for spec in preset.layers]
                assert any(lo <= getattr(layer, key) <= hi for lo, hi in spans), key
            assert -90 <= layer.angle <= 90
        assert RainParams.from_dict(json.loads(json.dumps(params.to_dict()))) == params


def test_angle_distribution_is_centred_on_vertical() -> None:
    rng, preset = np.random.default_rng(0), load_preset("medium")
    angles = [layer.angle for _ in range(400) for layer in sample_params(preset, rng).layers]
    assert abs(np.mean(angles)) < 2.0
    assert 8.0 < np.std(angles) < 16.0  # normal(0, 12) clipped at 35, plus +-3 jitter


def test_optional_layers_follow_their_probability() -> None:
    rng, preset = np.random.default_rng(1), load_preset("heavy")
    counts = [len(sample_params(preset, rng).layers) for _ in range(1000)]
    assert 0.65 < np.mean(np.array(counts) == 3) < 0.75  # the near layer has probability 0.7


@pytest.mark.parametrize("bad, message", [
    ({"colour": 1}, "unknown key"),
    ({"layers": [{"density": 0.01, "length": 10, "width": 1, "intensity": 0.5, "speed": 3}]}, "unknown key"),
    ({"layers": [{"density": 2.0, "length": 10, "width": 1, "intensity": 0.5}]}, "density"),
    ({"layers": [{"density": 0.01, "length": 0, "width": 1, "intensity": 0.5}]}, "length"),
    ({"layers": [{"density": 0.01, "length": 10, "width": 1}]}, "missing intensity"),
    ({"angle": {"uniform": [-100, 10]}}, "angle"),
    ({"angle": {"normal": [0, 10]}}, "clip"),
    ({"jpeg_quality": {"uniform": [70, 90]}}, "integer"),
    ({"blend": "multiply"}, "blend"),
    ({"layers": []}, "layers"),
    ({"layers": [{"probability": 0.5, "density": 0.01, "length": 10, "width": 1, "intensity": 0.5}]}, "probability 1"),
    ({"transmission": {"uniform": [0.5, 0.2]}}, "increasing"),
])
def test_preset_validation_rejects_bad_specs(bad: dict, message: str) -> None:
    spec = {"angle": 0, "layers": [{"density": 0.01, "length": 10, "width": 1, "intensity": 0.5}]}
    spec.update(bad)
    with pytest.raises(DerainError, match=message):
        Preset.from_dict("custom", spec)


def test_params_refuse_out_of_range_values() -> None:
    with pytest.raises(DerainError, match="density"):
        StreakLayer(density=0.0, angle=0, length=10, width=1, intensity=0.5)
    with pytest.raises(DerainError, match="angle"):
        StreakLayer(density=0.1, angle=95, length=10, width=1, intensity=0.5)
    with pytest.raises(DerainError, match="malformed"):
        RainParams.from_dict({"layers": [{"density": 0.1}]})
    assert set(LAYER_DEFAULTS) <= set(DOMAINS)


def test_unknown_preset_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(DerainError, match="unknown preset 'drizzle'.*medium"):
        load_preset("drizzle")
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers: [unclosed\n")
    with pytest.raises(DerainError, match="YAML"):
        load_preset(bad)


# ---- rendering ----------------------------------------------------------------------------------

def test_streak_kernel_geometry() -> None:
    k = streak_kernel(0.0, 10.0, 2.0)
    assert k.sum() == pytest.approx(20.0, rel=0.01)  # length x width units of light
    c = k.shape[0] // 2
    assert k[c + 4, c] > 0.8 and k[c + 7, c] < 1e-3 and k[c, c + 3] < 0.05
    diag = streak_kernel(45.0, 20.0, 1.0)  # positive angle: the lower end lies to the right
    c = diag.shape[0] // 2
    assert diag[c + 5, c + 5] > 0.5 and diag[c + 5, c - 5] < 1e-3
    assert streak_kernel(30.0, 40.0, 0.8).sum() == pytest.approx(32.0, rel=0.01)


@pytest.mark.parametrize("angle", [60.0, -30.0, 10.0])
def test_streak_kernel_principal_axis_is_the_angle(angle: float) -> None:
    k = streak_kernel(angle, 30.0, 1.5).astype(np.float64)
    yy, xx = np.mgrid[: k.shape[0], : k.shape[1]] - k.shape[0] // 2
    cxx, cyy, cxy = (k * xx * xx).sum(), (k * yy * yy).sum(), (k * xx * yy).sum()
    axis = 0.5 * math.atan2(2 * cxy, cxx - cyy)  # direction of largest spread, from the x axis
    assert same_orientation(math.degrees(math.atan2(math.cos(axis), math.sin(axis))), angle) < 0.1


@pytest.mark.parametrize("angle", [60.0, -30.0, 0.0, 85.0])
def test_streak_orientation_matches_the_angle(angle: float) -> None:
    layer = StreakLayer(density=0.003, angle=angle, length=30.0, width=1.5, intensity=1.0)
    img = render_layer(layer, (160, 200), np.random.default_rng(7))
    assert same_orientation(orientation(img), angle) < 2.0


def test_layer_coverage_scales_with_density_length_width() -> None:
    rng = np.random.default_rng(3)
    for density, length, width in [(0.001, 20.0, 1.5), (0.002, 10.0, 3.0)]:
        img = render_layer(StreakLayer(density, 10.0, length, width, 0.5), (512, 512), rng)
        expected = density * length * width * 0.625 * 0.5  # seeds are uniform in [0.25, 1]
        assert img.mean() == pytest.approx(expected, rel=0.1)
        assert img.min() >= 0.0 and img.max() <= 1.0 and img.dtype == np.float32


@pytest.mark.parametrize("blend", ["screen", "add"])
def test_rain_only_brightens_without_veil(blend: str) -> None:
    img = scene(96, 120)
    rainy = render(img, plain(blend=blend, scene_gain=0.5), np.random.default_rng(0))
    assert rainy.shape == img.shape and rainy.dtype == np.float32
    assert (rainy >= img - 1e-6).all()
    assert (rainy - img).mean() > 0.01


def test_veil_is_transmission_times_scene_plus_airlight() -> None:
    black = np.zeros((40, 50, 3), np.float32)
    rainy = render(black, plain(intensity=0.0, transmission=0.6, airlight=0.9), np.random.default_rng(0))
    np.testing.assert_allclose(rainy, 0.4 * 0.9, atol=1e-6)
    graded = render(black, plain(intensity=0.0, transmission=0.8, veil_gradient=0.5, airlight=1.0),
                    np.random.default_rng(0))
    np.testing.assert_allclose(graded[0], 1 - 0.8 * 0.5, atol=1e-6)  # top: farthest, thickest veil
    np.testing.assert_allclose(graded[-1], 1 - 0.8, atol=1e-6)


def test_scene_gain_tints_streaks_with_the_scene_colour() -> None:
    red = np.zeros((64, 64, 3), np.float32)
    red[..., 0] = 0.6
    rainy = render(red, plain(blend="add", scene_gain=1.0), np.random.default_rng(0))
    assert (rainy[..., 1] == 0).all() and rainy[..., 0].max() > 0.8
    white = render(red, plain(blend="add", scene_gain=0.0), np.random.default_rng(0))
    assert white[..., 1].max() > 0.5


def test_noise_and_jpeg_change_the_image_but_not_its_input() -> None:
    img = scene(64, 80)
    before = img.copy()
    base = render(img, plain(), np.random.default_rng(0))
    noisy = render(img, plain(noise_sigma=0.02), np.random.default_rng(0))
    jpeg = render(img, plain(jpeg_quality=50), np.random.default_rng(0))
    assert (noisy - base).std() == pytest.approx(0.02, rel=0.2)
    assert 0.001 < np.abs(jpeg - base).mean() < 0.05
    np.testing.assert_array_equal(img, before)
    with pytest.raises(DerainError, match="H, W, 3"):
        render(img[..., 0], plain(), np.random.default_rng(0))


def test_same_seed_same_bytes_different_seed_different() -> None:
    img = scene(80, 100)
    preset = load_preset("real")
    seed = pair_seed(5, "x.png", 0)
    clean_a, rainy_a, params_a = render_pair(img, preset, seed)
    clean_b, rainy_b, params_b = render_pair(img, preset, seed)
    assert params_a == params_b
    assert rainy_a.tobytes() == rainy_b.tobytes() and clean_a.tobytes() == clean_b.tobytes()
    _, rainy_c, params_c = render_pair(img, preset, pair_seed(6, "x.png", 0))
    assert params_c != params_a and np.abs(rainy_c - rainy_a).mean() > 0.005


def test_pair_seed_is_stable_and_distinct() -> None:
    assert pair_seed(0, "a.png", 0) == 4397922913855368307  # SHA-256 based: same on every machine
    seeds = {pair_seed(s, n, k) for s in (0, 1) for n in ("a.png", "b.png") for k in (0, 1)}
    assert len(seeds) == 8 and all(0 <= s < 2**63 for s in seeds)


@pytest.mark.parametrize("preset, k, layers, mean, std", [
    ("medium", 0, 2, 0.56053, 0.22016),
    ("real", 1, 3, 0.55439, 0.21775),  # with sensor noise and JPEG
])
def test_render_is_pinned(preset: str, k: int, layers: int, mean: float, std: float) -> None:
    """Guards the rendering pipeline against silent changes (numbers from this implementation)."""
    _, rainy, params = render_pair(scene(64, 80), load_preset(preset), pair_seed(0, "pin.png", k))
    assert len(params.layers) == layers
    assert float(rainy.mean()) == pytest.approx(mean, abs=2e-4)
    assert float(rainy.std()) == pytest.approx(std, abs=2e-4)


def test_sidecar_regenerates_the_pair_exactly() -> None:
    img = scene(70, 90, seed=2)
    seed = pair_seed(3, "pic.jpg", 1)
    clean, rainy, params = render_pair(img, load_preset("heavy"), seed)
    record = json.loads(json.dumps(make_sidecar(params, seed, source="pic.jpg", k=1)))
    assert render_from_sidecar(clean, record).tobytes() == rainy.tobytes()
    assert render_from_sidecar(img, record).tobytes() == rainy.tobytes()  # quantised the same way
    with pytest.raises(DerainError, match="sidecar was made for 90x70"):
        render_from_sidecar(img[:-1], {**record, "size": [70, 90]})


# ---- command line ----------------------------------------------------------------------------

@pytest.fixture
def clean_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "clean_in"
    for i in range(3):
        write_rgb(folder / f"img{i}.{'png' if i else 'jpg'}", scene(48, 64, seed=i))
    return folder


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_cli_writes_pairs_and_is_reproducible(clean_dir: Path, tmp_path: Path) -> None:
    out_a, out_b, out_c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    result = run_cli("synth", "--clean", str(clean_dir), "--out", str(out_a), "--preset", "light", "--seed", "4",
                     "--per-image", "2")
    assert result.returncode == 0, result.stderr
    assert "wrote 6 pairs" in result.stderr
    names = sorted(p.name for p in (out_a / "rainy").iterdir())
    assert names == [f"img{i}_{k}.png" for i in range(3) for k in range(2)]
    assert names == sorted(p.name for p in (out_a / "clean").iterdir())
    assert sorted(p.stem for p in (out_a / "params").iterdir()) == [n[:-4] for n in names]
    manifest = json.loads((out_a / "synth.json").read_text())
    assert manifest["pairs"] == 6 and manifest["preset"] == "light" and manifest["skipped"] == []
    assert run_cli("synth", "--clean", str(clean_dir), "--out", str(out_b), "--preset", "light", "--seed", "4",
                   "--per-image", "2", "--workers", "2").returncode == 0
    assert tree_bytes(out_a) == tree_bytes(out_b)  # same seed, same bytes, whatever the worker count
    record = json.loads((out_a / "params" / "img1_1.json").read_text())
    assert record["source"] == "img1.png" and record["k"] == 1 and record["run_seed"] == 4
    regenerated = render_from_sidecar(read_rgb(out_a / "clean" / "img1_1.png"), out_a / "params" / "img1_1.json")
    np.testing.assert_array_equal(np.round(regenerated * 255), np.asarray(Image.open(out_a / "rainy" / "img1_1.png")))
    assert run_cli("synth", "--clean", str(clean_dir), "--out", str(out_c), "--preset", "light",
                   "--seed", "5").returncode == 0
    assert (out_c / "rainy" / "img1.png").read_bytes() != (out_a / "rainy" / "img1_0.png").read_bytes()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_cli_renders_rain_from_streak_layers_reproducibly(clean_dir: Path, tmp_path: Path) -> None:
    from derain.synth.streaks import StreakBank

    layers = tmp_path / "garg"
    rng = np.random.default_rng(0)
    for i in range(2):  # grey streaks on black, as streaks/garg06 holds
        layer = np.zeros((40, 50, 3), np.float32)
        for _ in range(25):
            y, x = rng.integers(0, 30), rng.integers(0, 50)
            layer[y:y + 10, x] = rng.uniform(0.4, 1.0)
        write_rgb(layers / f"s{i}.png", layer)
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    for out, workers in ((out_a, "1"), (out_b, "2")):
        result = run_cli("synth", "--clean", str(clean_dir), "--out", str(out), "--preset", "real",
                         "--streaks", str(layers), "--workers", workers)
        assert result.returncode == 0, result.stderr
    assert tree_bytes(out_a) == tree_bytes(out_b)
    record = json.loads((out_a / "params" / "img1.json").read_text())
    assert record["streaks"] == "garg" and json.loads((out_a / "synth.json").read_text())["streaks"] == str(layers)
    clean = read_rgb(out_a / "clean" / "img1.png")
    rainy = read_rgb(out_a / "rainy" / "img1.png")
    assert np.abs(rainy - clean).mean() > 0.01  # it rained
    regenerated = render_from_sidecar(clean, out_a / "params" / "img1.json", StreakBank(layers))
    np.testing.assert_array_equal(np.round(regenerated * 255), np.round(rainy * 255))
    with pytest.raises(DerainError, match="give that StreakBank"):
        render_from_sidecar(clean, out_a / "params" / "img1.json")
    bad = run_cli("synth", "--clean", str(clean_dir), "--out", str(tmp_path / "c"),
                  "--streaks", str(clean_dir / "nope"))
    assert bad.returncode == 2 and "no streak images there" in bad.stderr and not (tmp_path / "c").exists()


def test_cli_skips_unreadable_images(clean_dir: Path, tmp_path: Path) -> None:
    (clean_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "out"
    result = run_cli("synth", "--clean", str(clean_dir), "--out", str(out), "--preset", "medium")
    assert result.returncode == 0, result.stderr
    assert "warning: skipped" in result.stderr and "broken.png" in result.stderr
    assert "skipped 1 unreadable" in result.stderr
    assert len(list((out / "rainy").iterdir())) == 3
    assert json.loads((out / "synth.json").read_text())["skipped"] == ["broken.png"]


def test_cli_bad_inputs_fail_on_one_line_and_leave_nothing(clean_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("angle: 0\nwind: 3\nlayers: [{density: 0.01, length: 10, width: 1, intensity: 0.5}]\n")
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    (unreadable / "x.png").write_bytes(b"junk")
    cases = [
        (["--clean", str(empty)], "contains no images"),
        (["--clean", str(tmp_path / "missing")], "no such directory"),
        (["--clean", str(clean_dir), "--preset", "monsoon"], "unknown preset"),
        (["--clean", str(clean_dir), "--preset", str(bad_yaml)], "unknown key(s) wind"),
        (["--clean", str(unreadable)], "could be read"),
    ]
    for args, message in cases:
        out = tmp_path / "never"
        result = run_cli("synth", *args, "--out", str(out))
        assert result.returncode != 0
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("derain: error")]
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert "Traceback" not in result.stderr
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_cli_refuses_non_empty_output_unless_overwrite(clean_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run_cli("synth", "--clean", str(clean_dir), "--out", str(out))
    assert result.returncode == 2 and "not empty" in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert run_cli("synth", "--clean", str(clean_dir), "--out", str(out), "--overwrite").returncode == 0
    assert (out / "keep.txt").read_text() == "mine" and len(list((out / "rainy").iterdir())) == 3


def test_the_formation_model_composes_streaks_then_vapour() -> None:
    """derain.formation: no streaks leave the background, streaks only add light, T = 1 is no veil,
    T = 0 is all airlight, and a veil pulls every value toward the airlight."""
    background = scene(16, 24).transpose(2, 0, 1)
    streaks = np.zeros((16, 24), np.float32)
    streaks[:, 5] = 0.8
    for blend in ("screen", "add"):
        np.testing.assert_allclose(streaks_on(background, 0 * streaks, blend), background, atol=1e-7)
        lit = streaks_on(background, streaks, blend)
        assert (lit >= background - 1e-7).all() and lit.max() <= 1.0 and (lit[:, :, 5] > background[:, :, 5]).any()
    np.testing.assert_array_equal(veil(background, 1.0, 0.9), background)
    np.testing.assert_allclose(veil(background, 0.0, 0.9), np.full_like(background, 0.9))
    veiled = veil(background, 0.7, 0.9)
    assert (np.abs(veiled - 0.9) <= np.abs(background - 0.9) + 1e-7).all()
