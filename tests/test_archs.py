"""Every registered architecture: forward, backward and a weights round trip on a tiny input."""

from __future__ import annotations

import pytest
import torch

from derain.archs import create_model, list_models
from derain.errors import DerainError
from derain.weights import load_model, save_model

ARCHS = list_models()


@pytest.mark.parametrize("name", ARCHS)
def test_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name)
    x = torch.rand(2, 3, 37, 45)  # odd sizes: padding paths must work
    out = model(x)
    assert out.shape[0] == 2 and torch.isfinite(out).all()
    out.float().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)


@pytest.mark.parametrize("name", ARCHS)
def test_save_load_round_trip(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    path = tmp_path / f"{name}.safetensors"
    save_model(path, model, name, {"note": "round trip"})
    loaded, meta = load_model(path)
    assert meta["arch"] == name and meta["note"] == "round trip"
    assert (tmp_path / f"{name}.json").is_file()
    x = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_derainers_keep_shape_and_range() -> None:
    for name in ("prenet", "rain_unet_s", "rain_unet_l"):
        out = create_model(name).eval()(torch.rand(1, 3, 21, 34))
        assert out.shape == (1, 3, 21, 34)
    out = create_model("rain_unet_s").eval()(torch.rand(1, 3, 21, 34))
    assert out.min() >= 0 and out.max() <= 1


def test_student_budget() -> None:
    """The shipped student must stay under 0.5M parameters (issue 5 / docs/METHOD.md section 7)."""
    params = sum(p.numel() for p in create_model("rain_unet_s").parameters())
    assert params <= 500_000


def test_unknown_architecture() -> None:
    with pytest.raises(DerainError, match="unknown architecture"):
        create_model("nope")


def test_untrained_rain_unet_is_identity() -> None:
    x = torch.rand(1, 3, 30, 44)
    for name in ("rain_unet_s", "rain_unet_l"):
        assert torch.equal(create_model(name).eval()(x), x)
