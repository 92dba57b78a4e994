"""Saving and loading model weights without ever unpickling code.

A model file is a `.safetensors` file whose header metadata carries one JSON document under the
key ``derain`` (architecture name and constructor arguments, package version, training data,
metrics). A `.json` sidecar with the same document is written beside it for people to read; the
loader only trusts the safetensors header. Peer weights released as PyTorch `.pth` state dicts
(e.g. the official PReNet and BRN files) are read with `torch.load(weights_only=True)`, which refuses
anything but tensors and plain containers.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save
from torch import nn

import derain
from derain.archs import create_model
from derain.atomic import atomic_write, atomic_write_text
from derain.errors import DerainError
from derain.paths import DEFAULT_MODEL, peers_root

ZOO = Path(__file__).resolve().parent / "zoo"
MODEL_FILE = "model.safetensors"  # what a finished training run exports


# Official weights of peers, by name: (file under peers_root(), architecture, constructor kwargs).
PEERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "prenet_rain100l": ("prenet/PReNet6_Rain100L.pth", "prenet", {"stages": 6}),
    "prenet_rain100h": ("prenet/PReNet6_Rain100H.pth", "prenet", {"stages": 6}),
    "prenet_rain1400": ("prenet/PReNet6_Rain1400.pth", "prenet", {"stages": 6}),
    "prenet_real": ("prenet/PReNet_real1.pth", "prenet", {"stages": 4}),
    # BRN: 8 stages, as the authors' train.py and test_BRN.py run them
    "brn_rain100l": ("brn/BRN_Rain100L.pth", "brn", {"stages": 8}),
    "brn_rain100h": ("brn/BRN_Rain100H.pth", "brn", {"stages": 8}),
    "brn_rain1400": ("brn/BRN_Rain1400.pth", "brn", {"stages": 8}),
    "brn_generalization": ("brn/BRN_generalization.pth", "brn", {"stages": 8}),
}


def save_model(path: str | os.PathLike[str], model: nn.Module, arch: str, meta: dict[str, Any] | None = None,
               arch_kwargs: dict[str, Any] | None = None, overwrite: bool = True) -> dict[str, Any]:
    """Write `model`'s weights and metadata atomically; returns the metadata document.

    `overwrite=False` refuses an existing file at the moment of publishing (`atomic.publish`)."""
    path = Path(path)
    doc = {"arch": arch, "arch_kwargs": arch_kwargs or {}, "derain_version": derain.__version__, **(meta or {})}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    # bytes written into the temporary file atomic_write made: safetensors' own save_file would
    # replace it with a private (0600) file, whatever the user's umask says
    atomic_write(path, lambda p: p.write_bytes(save(tensors, metadata={"derain": json.dumps(doc)})),
                 overwrite=overwrite)
    atomic_write_text(path.with_suffix(".json"), json.dumps(doc, indent=2) + "\n")
    return doc


def _read_metadata(path: Path) -> dict[str, Any]:
    """The derain document in a safetensors header (read without loading the tensors)."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise DerainError(f"{path}: not a valid safetensors weight file ({exc})") from exc
    try:
        meta = json.loads(header["derain"])
        if not isinstance(meta, dict) or not isinstance(meta.get("arch"), str):
            raise ValueError("no architecture name")
    except (KeyError, ValueError) as exc:
        raise DerainError(f"{path}: safetensors file has no valid derain metadata (which architecture is it?)") from exc
    return meta


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    meta = _read_metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise DerainError(f"{path}: not a valid safetensors weight file ({exc})") from exc
    return tensors, meta


def _read_pth(path: Path, arch: str | None,
              arch_kwargs: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if arch is None:
        raise DerainError(f"{path}: a .pth state dict does not say its architecture; name it (e.g. arch='prenet')")
    try:
        with warnings.catch_warnings():  # torch warns about some pickles before failing: the error says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise DerainError(f"{path}: not a loadable PyTorch state dict ({type(exc).__name__})") from exc
    if not isinstance(state, dict):
        raise DerainError(f"{path}: expected a state dict, found {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel
    return state, {"arch": arch, "arch_kwargs": arch_kwargs, "source": path.name}


def resolve(name_or_path: str | os.PathLike[str]) -> tuple[Path, str | None, dict[str, Any]]:
    """Map a zoo name, peer name or file path to (file, architecture if known, kwargs)."""
    name = str(name_or_path)
    if (ZOO / f"{name}.safetensors").is_file():
        return ZOO / f"{name}.safetensors", None, {}
    if name in PEERS:
        rel, arch, kwargs = PEERS[name]
        path = peers_root() / rel
        if not path.is_file():
            raise DerainError(f"peer weights {name!r} not found at {path}; "
                              f"set DERAIN_PEERS to the folder holding {rel}")
        return path, arch, kwargs
    path = Path(name)
    if path.is_file():
        return path, None, {}
    if path.suffix or os.sep in name:
        raise DerainError(f"{path}: no such weight file")
    raise DerainError(f"unknown model {name!r}; shipped: {', '.join(shipped_models())}; peers: {', '.join(PEERS)}")


def _build(path: Path, meta: dict[str, Any]) -> nn.Module:
    """The network `meta` describes; constructor arguments it refuses make `path` a bad file, not a crash."""
    kwargs = meta.get("arch_kwargs", {})
    if not isinstance(kwargs, dict):
        raise DerainError(f"{path}: not a valid model file: arch_kwargs must be a mapping, not {type(kwargs).__name__}")
    try:
        return create_model(meta["arch"], **kwargs)
    except (TypeError, ValueError) as exc:
        raise DerainError(f"{path}: not a valid model file: {meta['arch']!r} does not take "
                          f"arch_kwargs {kwargs} ({exc})") from exc


def load_model(name_or_path: str | os.PathLike[str] = DEFAULT_MODEL, arch: str | None = None,
               arch_kwargs: dict[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Build the network and load its weights; returns (model in eval mode, metadata)."""
    path, peer_arch, peer_kwargs = resolve(name_or_path)
    arch, kwargs = arch or peer_arch, arch_kwargs or peer_kwargs
    if path.suffix == ".safetensors":
        state, meta = _read_safetensors(path)
        if arch is not None and arch != meta["arch"]:
            raise DerainError(f"{path}: holds a {meta['arch']!r} model, not {arch!r}")
    elif path.suffix in (".pth", ".pt"):
        state, meta = _read_pth(path, arch, kwargs)
    else:
        raise DerainError(f"{path}: unknown weight file type; expected .safetensors (or a .pth/.pt state dict)")
    model = _build(path, meta)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise DerainError(f"{path}: weights do not fit architecture {meta['arch']!r} ({first[:200]})") from exc
    return model.eval(), meta


def load_trained(ref: str | os.PathLike[str], stage: str | tuple[str, ...],
                 arch: str | None = None) -> tuple[nn.Module, dict[str, Any], Path]:
    """The network a finished training stage exported (its run folder or model file), and where from.

    Stages hand networks to each other only through model files, so a teacher or a distilled
    student can come from another machine or version of the code; checkpoints are for resuming.
    """
    stages = (stage,) if isinstance(stage, str) else stage
    path = Path(ref)
    path = path / MODEL_FILE if path.is_dir() else path
    if not path.is_file():
        raise DerainError(f"{path}: no model file there; finish that {' or '.join(stages)} run first (--resume), "
                          "or give its model file")
    model, meta = load_model(path, arch)
    if meta.get("stage") not in stages:
        raise DerainError(f"{path}: is the model of a {meta.get('stage')!r} run, "
                          f"expected {' or '.join(map(repr, stages))}")
    return model, meta, path


def shipped_models() -> list[str]:
    """Names of the models inside the package."""
    return sorted(p.stem for p in ZOO.glob("*.safetensors"))


def model_info(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Metadata of a shipped or saved model, without building it."""
    path, arch, kwargs = resolve(name_or_path)
    if path.suffix == ".safetensors":
        return _read_metadata(path)
    return {"arch": arch, "arch_kwargs": kwargs, "source": path.name}
