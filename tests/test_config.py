"""The stage table, configs and their inheritance, the schedule and the losses, tested directly (fast)."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from derain.archs import arch_info, create_model, list_models, require
from derain.errors import DerainError
from derain.training.config import PROFILES, STAGES, load_config
from derain.training.loop import Stage, learning_rate
from derain.training.losses import Adapters, Restoration, feature_drift, normalised_l2


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("stage", list(STAGES))
def test_every_stage_profile_loads_and_its_architecture_fits(stage: str, profile: str) -> None:
    cfg = load_config(stage, profile)
    spec = STAGES[stage]
    assert isinstance(cfg, spec.config)
    module, cls = spec.stage.split(":")
    assert issubclass(getattr(importlib.import_module(module), cls), Stage)
    for key, source in spec.inputs.items():  # inputs come from earlier stages of the chain
        assert hasattr(cfg, key) and list(STAGES).index(source) < list(STAGES).index(stage)
    for key in spec.options:
        assert hasattr(cfg, key), f"{stage}: option --{key} is no config key"
    arch_info(cfg.arch)


def test_a_config_states_only_what_it_changes_over_its_base(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: full\nfraction: 0.1\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nseed: 3\n")
    full = load_config("finetune", "full")
    b = load_config("finetune", tmp_path / "b.yaml")
    assert (b.fraction, b.seed, b.steps, b.synth) == (0.1, 3, full.steps, full.synth)
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(DerainError, match="includes itself"):
        load_config("finetune", tmp_path / "loop.yaml")
    (tmp_path / "gone.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(DerainError, match="config file not found"):
        load_config("finetune", tmp_path / "gone.yaml")


def test_the_cli_has_one_command_per_stage() -> None:
    result = run_cli("train", "--help")
    assert result.returncode == 0
    for stage in STAGES:
        assert stage in result.stdout
    help_text = run_cli("train", "distill", "--help").stdout
    assert "--teacher-recognition" in help_text and "--teacher-reconstruction" in help_text


def test_the_registry_says_what_each_network_can_do() -> None:
    assert set(list_models(task="derain")) == {"brn", "prenet", "rain_unet_s", "rain_unet_l", "streaks_vapour_s"}
    assert list_models(task="classify") == ["rain_classifier"] and list_models(task="vapour") == ["vapour_s"]
    for name in list_models(features=True):
        out, feats = create_model(name).eval().forward_features(torch.rand(1, 3, 32, 32))
        assert len(feats) == 3 and [f.shape[-1] for f in feats] == [16, 8, 4]
    for name in list_models(task="derain"):
        assert create_model(name).eval()(torch.rand(1, 3, 16, 24)).shape == (1, 3, 16, 24)
    require("rain_unet_s", "derain", features=True, who="distill")
    with pytest.raises(DerainError, match="distill needs a derainer with features"):
        require("prenet", "derain", features=True, who="distill")
    with pytest.raises(DerainError, match="needs a classifier"):
        require("rain_unet_s", "classify", features=True, who="teacher-recognition")


def test_models_command_lists_every_architecture() -> None:
    result = run_cli("models")
    assert result.returncode == 0
    for name in list_models():
        assert name in result.stdout


def test_learning_rate_warms_up_decays_and_ramps_again_after_a_restart() -> None:
    cfg = load_config("supervised", "tiny", {"steps": 1000, "warmup": 100, "lr": 1.0, "lr_min_ratio": 0.1})
    assert learning_rate(cfg, 0) == pytest.approx(0.01)
    assert learning_rate(cfg, 99) == pytest.approx(1.0)
    assert learning_rate(cfg, 550) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert learning_rate(cfg, 1000) == pytest.approx(0.1)
    assert learning_rate(cfg, 500, restart=500) == pytest.approx(learning_rate(cfg, 500) / 100)
    assert learning_rate(cfg, 600, restart=500) == pytest.approx(learning_rate(cfg, 600))


def test_feature_losses() -> None:
    torch.manual_seed(0)
    teacher = [torch.randn(2, 8, 4, 4) * 5 for _ in range(3)]
    unit = [t / t.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() for t in teacher]
    assert float(normalised_l2(unit, teacher)) == pytest.approx(0.0, abs=1e-6)  # the target is RMS-normalised
    assert float(normalised_l2(teacher, teacher)) > 1.0
    assert float(feature_drift(teacher, teacher)) == 0.0
    # scale-free: the same relative change gives the same drift whatever the features' size
    assert float(feature_drift([1.1 * t for t in teacher], teacher)) == pytest.approx(0.01, rel=1e-4)
    assert float(feature_drift([110 * t for t in teacher], [100 * t for t in teacher])) == pytest.approx(0.01, rel=1e-4)
    adapters = Adapters([8, 8, 8], [16, 24, 32])
    assert [a.shape[1] for a in adapters(teacher)] == [16, 24, 32]


def test_restoration_objective_and_its_anchor() -> None:
    torch.manual_seed(0)
    net = create_model("rain_unet_s")
    clean = torch.rand(2, 3, 32, 32)
    loss, parts = Restoration(net, 1.0, features=True)(clean, clean)
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-5)  # the untrained student is the identity
    anchored = Restoration(net, 1.0, True, anchor=create_model("rain_unet_s"), anchor_weight=0.5)
    loss, parts = anchored(clean, clean)
    assert set(parts) == {"l1", "dssim", "anchor"} and float(parts["anchor"].detach()) > 0
    assert not any(p.requires_grad for p in anchored.anchor.parameters())
    assert not anchored.train().anchor.training
