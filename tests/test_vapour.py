"""Streaks and vapour: the formation model's inverse, the vapour branch, the two-pass engine and
its export, the training data of the vapour stage, and `--vapour` wherever a user can give it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import add_streaks, run_cli, scene
from derain.archs import arch_info, create_model, list_models
from derain.archs.streaks_vapour import StreaksVapourNet
from derain.archs.vapour import GRID, SIZE
from derain.errors import DerainError
from derain.formation import MIN_TRANSMISSION, unveil, veil
from derain.inference import Derainer, load_model
from derain.weights import save_model


def veiling_model(seed: int = 0) -> StreaksVapourNet:
    """An untrained joined model whose vapour branch sees a visible veil (T about 0.6)."""
    torch.manual_seed(seed)
    model = create_model("streaks_vapour_s").eval()
    torch.nn.init.normal_(model.vapour.transmission.weight, std=0.05)
    torch.nn.init.constant_(model.vapour.transmission.bias, 0.0)
    return model


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_unveil_inverts_veil_by_amount(kind: str) -> None:
    rng = np.random.default_rng(0)
    image = rng.random((3, 20, 30)).astype(np.float32)
    transmission = rng.uniform(0.3, 1.0, (1, 20, 30)).astype(np.float32)
    airlight = np.array([0.8, 0.85, 0.9], np.float32)[:, None, None]
    if kind == "torch":
        image, transmission, airlight = map(torch.from_numpy, (image, transmission, airlight))
    veiled = veil(image, transmission, airlight)
    assert np.allclose(np.asarray(unveil(veiled, transmission, airlight, 1.0)), np.asarray(image), atol=1e-5)
    assert np.array_equal(np.asarray(unveil(veiled, transmission, airlight, 0.0)), np.asarray(veiled))
    # half the amount: the scene under what is left of the veil, a transmission of T / T'
    thinned = 1 - 0.5 * (1 - transmission)
    half = unveil(veiled, transmission, airlight, 0.5)
    assert np.allclose(np.asarray(half), np.asarray(veil(image, transmission / thinned, airlight)), atol=1e-5)


def test_vapour_branch_gives_a_smooth_bounded_veil_map() -> None:
    net = create_model("vapour_s").eval()
    out = net(torch.rand(2, 3, 90, 200))  # any size: squeezed to SIZE x SIZE
    assert out.shape == (2, 4, GRID, GRID)
    assert out[:, :1].min() >= MIN_TRANSMISSION and out[:, :1].max() <= 1
    assert out[:, 1:].min() >= 0 and out[:, 1:].max() <= 1
    assert torch.allclose(out[:, 1:], out[:, 1:, :1, :1].expand_as(out[:, 1:]))  # one airlight per image
    assert out[:, 0].min() > 0.97  # untrained: no veil, so the image is left nearly as it is
    assert arch_info("vapour_s").task == "vapour" and arch_info("streaks_vapour_s").vapour
    assert list_models(task="vapour") == ["vapour_s"]


def test_joined_network_at_amount_zero_is_its_streak_branch() -> None:
    model = veiling_model()
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        assert torch.equal(model(x, amount=0.0), model.streaks(x))
        assert (model(x, amount=1.0) - model.streaks(x)).abs().max() > 0.05
    assert sum(p.numel() for p in model.parameters()) <= 1_000_000  # issue 28's budget


def test_engine_runs_the_vapour_pass_once_and_tiles_agree() -> None:
    model = veiling_model()
    calls = []
    vapour = model.vapour.forward
    model.vapour.forward = lambda x: calls.append(x.shape) or vapour(x)  # type: ignore[method-assign]
    image = add_streaks(scene(200, 260, seed=3), seed=3)
    whole = Derainer(model, tile=0, work_size=0).remove(image, vapour=1.0)
    assert calls == [(1, 3, SIZE, SIZE)]
    calls.clear()
    tiled = Derainer(model, tile=96, overlap=32, work_size=0).remove(image, vapour=1.0)
    assert calls == [(1, 3, SIZE, SIZE)]  # once for the photo, not per tile
    assert np.abs(tiled - whole).max() < 2e-3  # the seam bound of tests/test_inference.py
    calls.clear()
    kept = Derainer(model, tile=0, work_size=0).remove(image)  # no metadata: amount 0, no vapour pass
    assert calls == [] and np.abs(kept - whole).max() > 0.05


def test_engine_refuses_bad_amounts_and_models_without_the_branch() -> None:
    model = veiling_model()
    image = scene(32, 40)
    derainer = Derainer(model, {"vapour": 0.25})
    assert derainer.vapour == 0.25
    for bad in (2, -0.1, math.nan, math.inf, True, "0.5"):
        with pytest.raises(DerainError, match="vapour must be a number from 0"):
            derainer.remove(image, vapour=bad)  # type: ignore[arg-type]
        with pytest.raises(DerainError, match="vapour must be a number from 0"):
            Derainer(model, vapour=bad)  # type: ignore[arg-type]
    plain = Derainer(create_model("rain_unet_s"), {"name": "derain_streaks"})
    assert plain.remove(image, vapour=0.0).shape == image.shape
    with pytest.raises(DerainError, match="derain_streaks has no vapour branch"):
        plain.remove(image, vapour=0.5)
    with pytest.raises(DerainError, match="no vapour branch"):
        load_model("derain_streaks", vapour=0.5)


def test_onnx_export_carries_both_passes(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from derain.calibration import calibration_crops
    from derain.onnx_backend import OnnxRunner, export_bytes, export_onnx, quantize_int8

    model = veiling_model()
    image = add_streaks(scene(120, 150, seed=5), seed=5)
    reference = Derainer(model, tile=0).remove(image, vapour=1.0)
    path = export_onnx(tmp_path / "joined.onnx", model, {"arch": "streaks_vapour_s", "vapour": 0.5})
    onnx = load_model(path, tile=64, overlap=16)
    assert onnx.vapour == 0.5  # the default amount travels with the file
    assert np.abs(onnx.remove(image, vapour=1.0) - reference).max() < 2e-3
    assert np.abs(onnx.remove(image, vapour=0.0) - Derainer(model, tile=0).remove(image)).max() < 2e-3
    for i in range(2):
        Image.fromarray(np.uint8(scene(96, 96, seed=i) * 255)).save(tmp_path / f"{i}.png")
    crops = calibration_crops(sorted(tmp_path.glob("*.png")), count=2, size=64)
    int8 = OnnxRunner(quantize_int8(export_bytes(model, {"arch": "streaks_vapour_s"}), crops))
    assert int8.has_vapour
    fast = Derainer(int8, int8.meta, tile=0).remove(image, vapour=1.0)
    assert np.abs(fast - reference).mean() < 0.02


def test_vapour_training_data_knows_its_veil(tmp_path: Path) -> None:
    from derain.synth.mixture import MixtureConfig, RainMixture
    from derain.training.config import VapourConfig
    from derain.training.vapour import veiled_scene

    photo = scene(180, 240, seed=1)
    cfg = VapourConfig(arch="streaks_vapour_s", steps=1, batch_size=1, patch=96, lr=1e-3, streaks="x",
                       synth=MixtureConfig(sources={"heavy": 1.0}), rain=1.0, veil=1.0)
    mixture = RainMixture(cfg.synth)
    rainy, veiled, clean, target = veiled_scene(cfg, mixture)([photo], np.random.default_rng(0))
    assert rainy.shape == veiled.shape == clean.shape == (SIZE, SIZE, 3) and target.shape == (GRID, GRID, 4)
    transmission, airlight = target[..., 0], target[..., 1:]
    assert MIN_TRANSMISSION <= transmission.min() and transmission.max() < 1
    assert np.allclose(airlight, airlight[0, 0]) and 0 < airlight[0, 0, 0] <= 1
    assert transmission[0].mean() < transmission[-1].mean()  # the veil is thicker at the top (farther)
    assert np.abs(veiled - clean).mean() > 0.01 and np.abs(rainy - veiled).mean() > 0.005
    bare = dict(rain=0.0, veil=0.0)
    cfg = VapourConfig(**{**cfg.__dict__, **bare})
    rainy, veiled, clean, target = veiled_scene(cfg, mixture)([photo], np.random.default_rng(0))
    assert np.array_equal(rainy, clean) and np.array_equal(veiled, clean) and np.all(target[..., 0] == 1)


def test_cli_vapour_option(tmp_path: Path) -> None:
    model_file = tmp_path / "joined.safetensors"
    save_model(model_file, veiling_model(), "streaks_vapour_s")
    src = tmp_path / "rain.png"
    Image.fromarray(np.uint8(add_streaks(scene(64, 80), 0) * 255)).save(src)
    outputs = {}
    for amount in ("0", "1"):
        res = run_cli("remove", str(src), "-m", str(model_file), "--vapour", amount, "-o", str(tmp_path / amount))
        assert res.returncode == 0, res.stderr
        outputs[amount] = np.asarray(Image.open(tmp_path / amount / "rain.png"), np.float32)
    assert np.abs(outputs["1"] - outputs["0"]).mean() > 5  # levels: the veil went
    for bad in ("2", "-1", "abc", "nan"):
        res = run_cli("remove", str(src), "-m", str(model_file), "--vapour", bad, "-o", str(tmp_path / "bad"))
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "--vapour" in res.stderr
    res = run_cli("remove", str(src), "-m", "derain_streaks", "--vapour", "0.5", "-o", str(tmp_path / "bad"))
    assert res.returncode == 2 and "derain_streaks has no vapour branch" in res.stderr
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
