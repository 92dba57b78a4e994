"""Weight files: metadata, peers, and every way a weight file can be wrong."""

from __future__ import annotations

import pytest
import torch

from derain.archs import create_model
from derain.errors import DerainError
from derain.paths import peers_root
from derain.weights import PEERS, load_model, save_model, shipped_models

HAVE_PEERS = (peers_root() / "prenet").is_dir()


@pytest.mark.skipif(not HAVE_PEERS,
                    reason=f"official PReNet weights not found at {peers_root() / 'prenet'} (set DERAIN_PEERS)")
@pytest.mark.parametrize("name", [n for n, (_, arch, _) in PEERS.items() if arch == "prenet"])
def test_official_prenet_weights_load_unchanged(name: str) -> None:
    """State-dict keys of our PReNet match the authors' files exactly (strict load)."""
    model, meta = load_model(name)
    assert meta["arch"] == "prenet"
    assert model.stages == PEERS[name][2]["stages"]


@pytest.mark.parametrize("name", [n for n, (_, arch, _) in PEERS.items() if arch == "brn"])
def test_official_brn_weights_load_and_derain(name: str) -> None:
    """Our BRN holds exactly the authors' keys (strict load, `module.` removed) and derains a small
    image to one of the same shape in [0, 1]."""
    path = peers_root() / PEERS[name][0]
    if not path.is_file():
        pytest.skip(f"official BRN weights not found at {path} (set DERAIN_PEERS)")
    model, meta = load_model(name)
    assert meta["arch"] == "brn" and model.stages == 8
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert set(model.state_dict()) == {k.removeprefix("module.") for k in state}
    torch.manual_seed(0)
    x = torch.rand(1, 3, 23, 30)
    with torch.no_grad():
        out = model(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1


def test_wrong_architecture_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "student.safetensors"
    save_model(path, create_model("rain_unet_s"), "rain_unet_s")
    with pytest.raises(DerainError, match="holds a 'rain_unet_s' model, not 'prenet'"):
        load_model(path, arch="prenet")
    # metadata claiming another architecture than the tensors hold
    save_model(path, create_model("rain_unet_s"), "rain_unet_l")
    with pytest.raises(DerainError, match="do not fit architecture 'rain_unet_l'"):
        load_model(path)


def test_pth_of_wrong_architecture(tmp_path) -> None:
    path = tmp_path / "x.pth"
    torch.save(create_model("rain_unet_s").state_dict(), path)
    with pytest.raises(DerainError, match="do not fit architecture 'prenet'"):
        load_model(path, arch="prenet")


@pytest.mark.parametrize("content", [b"", b"not a weight file at all", b"\x00" * 64])
def test_garbage_files(tmp_path, content: bytes) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(DerainError):
        load_model(path)


def test_pickled_code_is_refused(tmp_path) -> None:
    """A .pth holding an arbitrary object must not be unpickled."""
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(1), "obj": create_model}, path)
    with pytest.raises(DerainError, match="not a loadable PyTorch state dict"):
        load_model(path, arch="prenet")


def test_unknown_names() -> None:
    with pytest.raises(DerainError, match="unknown model 'no_such_model'"):
        load_model("no_such_model")
    with pytest.raises(DerainError, match="no such weight file"):
        load_model("missing/model.safetensors")


def test_shipped_default_model_has_metadata() -> None:
    assert "derain_student" in shipped_models()
    model, meta = load_model("derain_student")
    for key in ("arch", "training_data", "description", "derain_version"):
        assert key in meta, key


def test_metadata_without_architecture(tmp_path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "m.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata={"derain": "[1, 2]"})
    with pytest.raises(DerainError, match="no valid derain metadata"):
        load_model(path)
    other = tmp_path / "m.bin"
    other.write_bytes(b"x")
    with pytest.raises(DerainError, match="unknown weight file type"):
        load_model(other)
