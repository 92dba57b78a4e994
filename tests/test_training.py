"""Training pipeline on a fake data root the tests build: the tiny chain, resume, DDP, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import add_streaks, run_cli, scene
from derain.archs import create_model
from derain.errors import DerainError
from derain.training.chain import run_all
from derain.training.config import load_config, profile_path
from derain.training.run import run_stage

pytestmark = pytest.mark.slow


def _png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(path)


def _streaky(seed: int) -> tuple[np.ndarray, np.ndarray]:
    clean = scene(48, 64, seed=seed)
    return clean, add_streaks(clean, seed=seed, density=0.08)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogue's layout with a handful of small synthetic images per set."""
    root = tmp_path_factory.mktemp("data")
    for i in range(8):
        clean, rainy = _streaky(100 + i)
        _png(root / "rain800_train/concat" / f"{i}.png", np.concatenate([clean, rainy], axis=1))
        _png(root / "real_rainy/sirr147" / f"{i}.png", _streaky(200 + i)[1])
        _png(root / "clean/bsds500/test" / f"{i}.png", scene(48, 64, seed=300 + i))
    rng = np.random.default_rng(7)
    for i in range(3):  # streak layers: sparse grey dashes on black, as streaks/garg06 holds
        layer = np.zeros((40, 40, 3), np.float32)
        for _ in range(30):
            y, x = rng.integers(0, 30), rng.integers(0, 40)
            layer[y:y + 10, x] = rng.uniform(0.3, 1.0)
        _png(root / "streaks/garg06" / f"{i}.png", layer)
    for i in range(2):
        _png(root / "clean/kodak24" / f"{i}.png", scene(48, 64, seed=400 + i))
        _png(root / "real_rainy/udgnet43" / f"{i}.png", _streaky(500 + i)[1])
        clean, rainy = _streaky(600 + i)
        _png(root / "rain100l_test/clean" / f"{i}.png", clean)
        _png(root / "rain100l_test/rainy" / f"{i}.png", rainy)
    return root


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)  # 2 shared cores: one thread per process is faster and fair


def _losses(run: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if r["kind"] == "train"]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_tiny_chain_learns_and_beats_the_input(data_root: Path, tmp_path: Path) -> None:
    result = run_all("tiny", fraction=0.5, out=tmp_path, data_root=str(data_root), progress=False)
    for name, summary in result["stages"].items():
        run = Path(summary["run_dir"])
        losses = _losses(run)
        assert np.mean(losses[-2:]) < np.mean(losses[:2]), f"{name}: loss did not fall {losses}"
        for artefact in ("config.yaml", "checkpoint.pt", "log.csv", "curves.png", "data.json", "summary.json"):
            assert (run / artefact).is_file(), f"{name}: {artefact} missing"
    model_json = json.loads((tmp_path / "finetune-tiny-f0.5/model.json").read_text())
    assert model_json["arch"] == "rain_unet_s" and model_json["stage"] == "finetune" and model_json["fraction"] == 0.5
    assert (tmp_path / "results-tiny.md").read_text().count("|") > 20

    from derain.weights import load_model

    student = load_model(tmp_path / "finetune-tiny-f0.5/model.safetensors")[0]
    held = [_streaky(900 + i) for i in range(4)]  # scenes the chain never saw
    rainy = torch.from_numpy(np.stack([r for _, r in held])).permute(0, 3, 1, 2)
    with torch.no_grad():
        out = student(rainy).permute(0, 2, 3, 1).numpy()
    gain = np.mean([_psnr(o, c) - _psnr(r, c) for o, (c, r) in zip(out, held)])
    assert gain > 1.0, f"student gains only {gain:.2f} dB over the rainy input"


def _tiny(stage: str, tmp_path: Path, **changes: object) -> Path:
    """A copy of the shipped tiny config of `stage` with `changes`, as a YAML file."""
    cfg = {**yaml.safe_load(profile_path(stage, "tiny").read_text()), **changes}
    path = tmp_path / f"{stage}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_resume_continues_exactly(data_root: Path, tmp_path: Path) -> None:
    config = _tiny("supervised", tmp_path, steps=12, checkpoint_every=4, log_every=2)
    root = str(data_root)
    run_stage("supervised", config, out=tmp_path / "whole", data_root=root, progress=False)
    run_stage("supervised", config, out=tmp_path / "split", data_root=root, progress=False, stop_at=6)
    assert torch.load(tmp_path / "split/checkpoint.pt", weights_only=True)["step"] == 6
    run_stage("supervised", config, out=tmp_path / "split", data_root=root, progress=False, resume=True)
    whole = torch.load(tmp_path / "whole/checkpoint.pt", weights_only=True)
    split = torch.load(tmp_path / "split/checkpoint.pt", weights_only=True)
    assert split["done"] and split["step"] == 12
    for key, value in whole["model"].items():
        torch.testing.assert_close(split["model"][key], value, rtol=0, atol=1e-6)
    assert _losses(tmp_path / "split") == pytest.approx(_losses(tmp_path / "whole"), abs=1e-6)
    assert load_config("supervised", tmp_path / "split/config.yaml") == load_config("supervised", config)


def test_two_process_gloo_matches_one_process(data_root: Path, tmp_path: Path) -> None:
    config = _tiny("supervised", tmp_path, steps=6, checkpoint_every=6, log_every=3, warmup=0)
    env = {**os.environ, "DERAIN_DATA": str(data_root), "OMP_NUM_THREADS": "1"}
    args = ["train", "supervised", "--config", str(config), "--quiet", "--device", "cpu"]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "derain", *args, "--out", str(tmp_path / "ddp")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    run_stage("supervised", config, out=tmp_path / "one", data_root=str(data_root), progress=False)
    one, two = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=True)["model"] for d in ("one", "ddp"))
    torch.manual_seed(0)
    init = {f"net.{k}": v for k, v in create_model("rain_unet_s").state_dict().items()}  # what both started from
    moved = torch.cat([(one[k] - init[k]).abs().flatten() for k in one]).mean()
    apart = torch.cat([(one[k] - two[k]).abs().flatten() for k in one]).mean()
    assert apart < 0.01 * moved, (apart, moved)  # summation order only: far below what training changed
    assert _losses(tmp_path / "ddp") == pytest.approx(_losses(tmp_path / "one"), rel=1e-4)


def test_config_validation() -> None:
    assert load_config("finetune", "full").fraction == 1.0  # the shipped run uses every pair; ablations pass --fraction
    with pytest.raises(DerainError, match="unknown key"):
        load_config("supervised", "tiny", {"lerning_rate": 1.0})
    with pytest.raises(DerainError, match="steps must be int"):
        load_config("supervised", "tiny", {"steps": "many"})
    with pytest.raises(DerainError, match=r"\(0, 1\]"):
        load_config("supervised", "tiny", {"fraction": 1.5})
    with pytest.raises(DerainError, match="must have 2 items"):
        load_config("teacher-recognition", "tiny", {"rescale": [0.5]})
    with pytest.raises(DerainError, match="unknown profile"):
        load_config("distill", "huge")


def test_a_supervised_model_is_refined_from_its_weights(data_root: Path, tmp_path: Path) -> None:
    """A supervised run with `init` starts from a finished supervised model (issue 28's quick win),
    never from a distilled one, and has no anchor."""
    from derain.training.paired import PairedStage
    from derain.weights import MODEL_FILE, load_model

    root = str(data_root)
    config = _tiny("supervised", tmp_path, steps=2, checkpoint_every=2)
    run_stage("supervised", config, out=tmp_path / "first", data_root=root, progress=False)
    stage = PairedStage("supervised", load_config("supervised", config, {"init": str(tmp_path / "first")}), root)
    start, _ = load_model(tmp_path / "first" / MODEL_FILE)
    for key, value in start.state_dict().items():
        torch.testing.assert_close(stage.module.net.state_dict()[key], value)
    with pytest.raises(DerainError, match="distill_weight must be 0"):
        PairedStage("supervised", load_config("supervised", config, {"distill_weight": 0.1}), root)


def test_bad_input_fails_before_any_work(data_root: Path, tmp_path: Path) -> None:
    root = str(data_root)
    config = _tiny("supervised", tmp_path, steps=4, checkpoint_every=4)
    run_stage("supervised", config, out=tmp_path / "done", data_root=root, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "done").iterdir()}
    with pytest.raises(DerainError, match="already holds a run"):
        run_stage("supervised", config, out=tmp_path / "done", data_root=root, progress=False)
    with pytest.raises(DerainError, match=r"config changed since the run started \(lr\)"):
        run_stage("supervised", config, {"lr": 0.1}, out=tmp_path / "done", data_root=root, resume=True, progress=False)
    with pytest.raises(DerainError, match="is the model of a 'supervised' run, expected 'distill'"):
        run_stage("finetune", "tiny", {"init": str(tmp_path / "done")}, out=tmp_path / "ft", data_root=root,
                  progress=False)
    with pytest.raises(DerainError, match="no model file there; finish that distill run first"):
        run_stage("finetune", "tiny", {"init": str(tmp_path)}, out=tmp_path / "ft", data_root=root, progress=False)
    with pytest.raises(DerainError, match="evaluation-only"):
        run_stage("supervised", config, {"pairs": ["rain100l_test"]}, out=tmp_path / "leak", data_root=root,
                  progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "done").iterdir()} == before
    assert not (tmp_path / "ft").exists() and not (tmp_path / "leak").exists()

    with pytest.raises(DerainError, match="does not exist"):
        run_stage("supervised", config, out=tmp_path / "nodata", data_root=str(tmp_path / "nowhere"), progress=False)
    empty = tmp_path / "empty_root"
    (empty / "rain800_train" / "concat").mkdir(parents=True)
    with pytest.raises(DerainError, match="contains no images"):
        run_stage("supervised", config, out=tmp_path / "nodata", data_root=str(empty), progress=False)
    assert not (tmp_path / "nodata").exists()

    proc = run_cli("train", "supervised", "--fraction", "0", "--out", str(tmp_path / "cli"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "fraction must be in (0, 1]" in proc.stderr and not (tmp_path / "cli").exists()


def test_student_is_small_relative_to_the_teachers() -> None:
    count = {n: sum(p.numel() for p in create_model(n).parameters())
             for n in ("rain_unet_s", "rain_unet_l", "rain_classifier")}
    assert count["rain_unet_s"] <= 500_000
    assert 4 * count["rain_unet_s"] <= count["rain_unet_l"] + count["rain_classifier"]
    logit, feats = create_model("rain_classifier").forward_features(torch.rand(2, 3, 40, 40))
    assert logit.shape == (2,) and [f.shape[-1] for f in feats] == [20, 10, 5]


def test_finetune_can_transfer_the_encoder_only(data_root: Path, tmp_path: Path) -> None:
    """init_parts=encoder keeps the distilled encoder and starts the head afresh (zero: identity)."""
    from derain.training.paired import PairedStage
    from derain.weights import load_trained

    root = str(data_root)
    teacher = run_stage("teacher-reconstruction",
                        _tiny("teacher-reconstruction", tmp_path, steps=2, checkpoint_every=2),
                        out=tmp_path / "b", data_root=root, progress=False)
    distill = _tiny("distill", tmp_path, steps=2, checkpoint_every=2, warmup=0)
    run_stage("distill", distill, {"teacher_recognition": None, "teacher_reconstruction": teacher["run_dir"]},
              out=tmp_path / "d", data_root=root, progress=False)
    distilled = load_trained(tmp_path / "d", "distill")[0].state_dict()
    assert distilled["head.0.weight"].abs().sum() > 0  # teacher B trained the distilled head
    for parts in ("all", "encoder"):
        cfg = load_config("finetune", "tiny", {"init": str(tmp_path / "d"), "init_parts": parts})
        state = PairedStage("finetune", cfg, root).module.net.state_dict()
        assert all(torch.equal(state[k], v) for k, v in distilled.items() if k.startswith("encoder."))
        head_is_distilled = torch.equal(state["head.0.weight"], distilled["head.0.weight"])
        assert head_is_distilled == (parts == "all")
        assert parts == "all" or state["head.0.weight"].abs().sum() == 0
    with pytest.raises(DerainError, match="init_parts must be"):
        load_config("finetune", "tiny", {"init_parts": "decoder"})


SYNTH = {"clean": ["bsds500"], "identity": 0.2, "share": 0.75, "val": "kodak24",
         "sources": {"light": 1.0, "real": 1.0, "garg06": 1.0}}


def test_synthetic_pairs_train_and_resume_exactly_with_ema(data_root: Path, tmp_path: Path) -> None:
    config = _tiny("supervised", tmp_path, synth=SYNTH, ema=0.9, steps=12, checkpoint_every=4, log_every=2,
                   val_images=2)
    root = str(data_root)
    whole = run_stage("supervised", config, out=tmp_path / "whole", data_root=root, progress=False)
    assert {"val_psnr", "val_psnr_input", "val_fidelity"} <= set(whole["metrics"])
    run_stage("supervised", config, out=tmp_path / "split", data_root=root, progress=False, stop_at=5)
    run_stage("supervised", config, out=tmp_path / "split", data_root=root, progress=False, resume=True)
    a, b = (torch.load(tmp_path / r / "checkpoint.pt", weights_only=True) for r in ("whole", "split"))
    for key, value in a["ema"].items():
        torch.testing.assert_close(b["ema"][key], value, rtol=0, atol=1e-6)
    from derain.weights import load_model

    exported = load_model(tmp_path / "whole/model.safetensors")[0].state_dict()
    for key, value in a["ema"].items():  # what ships is the average, not the last step's weights
        torch.testing.assert_close(exported[key], value)
    provenance = json.loads((tmp_path / "whole/data.json").read_text())
    assert provenance["synth"]["selection"] == "kodak24" and provenance["synth"]["backgrounds"]


def test_few_fixed_pairs_are_the_same_for_every_seed_and_arm(data_root: Path, tmp_path: Path) -> None:
    from derain.training.paired import PairedStage

    config = load_config("supervised", _tiny("supervised", tmp_path, synth=SYNTH, fixed_pairs=8, fraction=0.5))
    stages = []
    for seed in (0, 1):
        (tmp_path / str(seed)).mkdir()
        path = _tiny("supervised", tmp_path / str(seed), synth=SYNTH, fixed_pairs=8, seed=seed)
        cfg = load_config("supervised", path)
        stages.append(PairedStage("supervised", cfg, str(data_root)))
    first, second = ([c[0] for c in stage.sampler.components] for stage in stages)
    assert [len(c) for c in first] == [6, 2]  # 8 pairs: a quarter (1 - share) of them from the paired set
    for a, b in zip(first, second):  # the same pairs, whatever the run's seed
        for i in range(len(a)):
            assert all(np.array_equal(x, y) for x, y in zip(a[i], b[i]))
    assert stages[0].train_names == stages[1].train_names and len(stages[0].background_names) == 6
    rendered = first[0][0]
    assert rendered[0].shape == rendered[1].shape == (2 * config.patch, 2 * config.patch, 3)
    batches = [stages[0].batch(step, 0, 1) for step in range(3)]
    assert batches[0][0].shape == (config.batch_size, 3, config.patch, config.patch)
    with pytest.raises(DerainError, match="fixed_pairs must be >= 0, and it needs synth"):
        load_config("supervised", "tiny", {"fixed_pairs": 4})


def test_a_snapshot_carries_a_run_to_a_new_machine(data_root: Path, tmp_path: Path) -> None:
    config = _tiny("supervised", tmp_path, synth=SYNTH, ema=0.9, steps=12, warmup=4, checkpoint_every=3,
                   log_every=2, val_images=2)
    root = str(data_root)
    run_stage("supervised", config, out=tmp_path / "first", data_root=root, progress=False, stop_at=6)
    result = run_cli("train", "snapshot", str(tmp_path / "first"), "-o", str(tmp_path / "landed"))
    assert result.returncode == 0 and "step 6 of 12" in result.stdout, result.stderr
    assert ({"snapshot.safetensors", "config.yaml", "data.json", "log.jsonl"}
            <= {p.name for p in (tmp_path / "landed").iterdir()})
    before = torch.load(tmp_path / "first/checkpoint.pt", weights_only=True)

    from derain.training.snapshot import read_snapshot

    landed = read_snapshot(tmp_path / "landed")
    assert landed["step"] == 6 and "optimizer" not in landed
    for part in ("model", "ema"):
        for key, value in before[part].items():
            torch.testing.assert_close(landed[part][key], value, rtol=0, atol=0)

    exported = run_cli("train", "export", str(tmp_path / "first"), "-o", str(tmp_path / "mid.safetensors"))
    assert exported.returncode == 0 and "step 6 of 12" in exported.stdout, exported.stderr
    from derain.weights import load_model

    net, meta = load_model(tmp_path / "mid.safetensors")
    assert meta["step"] == 6 and not meta["finished"] and meta["averaged"]
    for key, value in before["ema"].items():  # a look at a run before it ends: its averaged weights
        torch.testing.assert_close(net.state_dict()[key], value, rtol=0, atol=0)
    again = run_cli("train", "export", str(tmp_path / "first"), "-o", str(tmp_path / "mid.safetensors"))
    assert again.returncode == 2 and "already exists" in again.stderr
    from derain.training.snapshot import export_checkpoint

    export_checkpoint(tmp_path / "landed", tmp_path / "landed.safetensors")  # the same from the snapshot
    assert all(torch.equal(load_model(tmp_path / "landed.safetensors")[0].state_dict()[k], v)
               for k, v in net.state_dict().items())

    # the machine is gone: a new run folder continues from the landed folder alone
    with pytest.raises(DerainError, match="config changed"):
        run_stage("supervised", _tiny("supervised", tmp_path / "landed", ema=0.5), out=tmp_path / "x",
                  data_root=root, progress=False, resume_from=tmp_path / "landed")
    summary = run_stage("supervised", config, out=tmp_path / "second", data_root=root, progress=False,
                        resume_from=tmp_path / "landed")
    assert summary["done"] and summary["step"] == 12
    records = [json.loads(line) for line in (tmp_path / "second/log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r["kind"] == "train"]
    assert steps == sorted(set(steps)) and steps[0] == 2 and steps[-1] == 12  # one log, no gap, no repeat
    rates = {r["step"]: r["lr"] for r in records if r["kind"] == "train"}
    assert rates[8] < 0.6 * rates[6]  # Adam restarted at step 6: the rate ramps up again over `warmup` steps
    assert torch.load(tmp_path / "second/checkpoint.pt", weights_only=True)["restart"] == 6
    with pytest.raises(DerainError, match="finished"):
        from derain.training.snapshot import write_snapshot

        write_snapshot(tmp_path / "second", tmp_path / "again")


def test_synthetic_pairs_loss_falls(data_root: Path, tmp_path: Path) -> None:
    config = _tiny("supervised", tmp_path, synth=SYNTH, steps=60, log_every=10, val_images=2)
    run_stage("supervised", config, out=tmp_path / "run", data_root=str(data_root), progress=False)
    losses = _losses(tmp_path / "run")
    assert np.mean(losses[-2:]) < np.mean(losses[:2]), losses


def test_resume_accepts_a_new_config_key_at_its_default(data_root: Path, tmp_path: Path) -> None:
    config = _tiny("supervised", tmp_path, steps=6, checkpoint_every=2)
    root = str(data_root)
    run_stage("supervised", config, out=tmp_path / "run", data_root=root, progress=False, stop_at=2)
    state = torch.load(tmp_path / "run/checkpoint.pt", weights_only=True)
    del state["config"]["ema"]  # as written by a version of the code that had no `ema` key yet
    torch.save(state, tmp_path / "run/checkpoint.pt")
    assert run_stage("supervised", config, out=tmp_path / "run", data_root=root, progress=False, resume=True)["done"]
    with pytest.raises(DerainError, match="config changed"):  # a real change is still refused
        run_stage("supervised", _tiny("supervised", tmp_path, steps=6, checkpoint_every=2, ema=0.5),
                  out=tmp_path / "run", data_root=root, progress=False, resume=True)


def test_synth_config_validation(tmp_path: Path) -> None:
    for bad, message in (({**SYNTH, "sources": {"drizzle": 1.0}}, "unknown drizzle"),
                         ({**SYNTH, "clean": ["kodak24"]}, "validation set"),
                         ({**SYNTH, "identity": 1.0}, "identity"),
                         ({**SYNTH, "sources": {"light": "x"}}, "must be float")):
        with pytest.raises(DerainError, match=message):
            load_config("supervised", _tiny("supervised", tmp_path, synth=bad))


def test_stop_at_below_one_is_a_usage_error(data_root: Path, tmp_path: Path) -> None:
    for value in ("0", "-3"):
        result = run_cli("train", "supervised", "--stop-at", value, "--out", str(tmp_path / "run"),
                         "--data-root", str(data_root))
        assert result.returncode == 2 and "--stop-at" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_corrupted_checkpoint_says_how_to_recover(data_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"\x00garbage")
    result = run_cli("train", "supervised", "--resume", "--out", str(run), "--data-root", str(data_root))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "start the run afresh" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_both_arms_of_the_ablation_have_the_same_budget() -> None:
    for profile in ("tiny", "full"):
        finetune, supervised = (yaml.safe_load(profile_path(s, profile).read_text())
                                for s in ("finetune", "supervised"))
        differ = sorted(k for k in set(finetune) | set(supervised) if finetune.get(k) != supervised.get(k))
        assert differ == ["distill_weight", "init"], (profile, differ)


def test_a_run_being_trained_cannot_be_trained_twice(data_root: Path, tmp_path: Path) -> None:
    from derain.training.rundir import RunDir

    config = _tiny("supervised", tmp_path, steps=4, checkpoint_every=2)
    run_stage("supervised", config, out=tmp_path / "run", data_root=str(data_root), progress=False, stop_at=2)
    held = RunDir(tmp_path / "run").lock()  # as if another process were training it
    try:
        result = run_cli("train", "supervised", "--config", str(config), "--resume", "--out", str(tmp_path / "run"),
                         "--data-root", str(data_root))
        assert result.returncode != 0 and "another process is training this run" in result.stderr
    finally:
        held.close()
    assert run_stage("supervised", config, out=tmp_path / "run", data_root=str(data_root), progress=False,
                     resume=True)["done"]
