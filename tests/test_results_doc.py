"""docs/RESULTS.md and the README's results block are generated, never hand-edited: regenerating
them from the committed evaluation outputs must give the committed text."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _results_module():
    sys.path.insert(0, str(ROOT / "experiments"))  # results.py imports its siblings, as when run as a script
    spec = importlib.util.spec_from_file_location("results", ROOT / "experiments" / "results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["results"] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_results_md_is_regenerated_text():
    assert (ROOT / "docs" / "RESULTS.md").read_text() == _results_module().report()


def test_readme_block_is_regenerated_text():
    assert _results_module().headline() in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(("gaps", "word"), [([0.6], "holds"), ([0.9, 0.7, 0.2], "holds"),
                                           ([0.9, 0.8, -0.1], "not shown"), ([0.4, 0.3, 0.45], "not shown"),
                                           ([-0.6, -0.5, -0.7], "contradicted"), ([-0.9, -0.9, 0.1], "not shown")])
def test_the_claim_rule_needs_the_margin_on_the_mean_and_the_sign_on_every_seed(gaps: list[float], word: str) -> None:
    assert word in _results_module().verdict(gaps)


def test_the_default_model_ships_from_the_run_the_rule_picks() -> None:
    results = _results_module()
    pick = results.rule_pick()  # None until both long arms are scored on the selection set
    if pick is not None:
        run = results.MANIFEST.zoo[results.DEFAULT_MODEL]
        if results.MANIFEST.runs[run].stage == "vapour":  # the pick's model joined to a vapour branch
            assert pick == results.REFINED and results.selection.vapour_rule(run)["ships"]
        else:
            assert run == pick


def test_a_long_run_is_described_from_its_model_file_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped description of a long arm, from metadata shaped as the paired stages write it."""
    results = _results_module()
    meta = {"fraction": 1.0, "seed": 0, "training_data": {
        "pairs": ["rain800_train"], "pool_size": 687, "train_pairs": 687, "rain_free_backgrounds": 380,
        "synth": {"clean": ["bsds500", "urban100", "sunhays80"], "identity": 0.15,
                  "sources": {"light": 1.0, "medium": 1.0, "heavy": 1.0, "real": 2.0, "garg06": 2.0}}}}
    monkeypatch.setattr(results, "run_meta", lambda run: meta)
    monkeypatch.setattr(results, "config", lambda run: {"steps": 100000, "batch_size": 8, "patch": 128})
    text = results.describe("derain_student", "finetune-full-f1")
    assert text.startswith("Task-transfer student (rain_unet_s)")
    assert "100,000 steps of 8 x 128² patches" in text and "380 rain-free photos" in text
    assert "15% identity pairs" in text and "687 Rain800 pairs (100% of the data, seed 0)" in text
    supervised = results.describe("derain_supervised", "supervised-full-f1")
    assert supervised.startswith("Supervised student (rain_unet_s) trained from scratch")
    meta["init"] = "docs/training-long/supervised-full-f1/model.safetensors"
    meta["training_data"]["synth"]["keep_veil"] = True
    refined = results.describe("derain_streaks", "streaks-only")
    assert refined.startswith("Supervised student (rain_unet_s) `supervised-full-f1`, refined without teachers")
    assert "targets keeping the veil" in refined


ARMS = ["supervised-full-f1", "finetune-full-f1", "streaks-only"]
PASS = {"fidelity": True, "worse": True, "clips": True}


@pytest.mark.parametrize("scored, gates, pick", [
    ({}, {}, None),  # nothing finished
    ({"supervised-full-f1": 27.0, "finetune-full-f1": 26.5}, {}, None),  # the refined run not scored: no pick
    ({"supervised-full-f1": 28.6, "finetune-full-f1": 28.0, "streaks-only": 27.0},
     {"streaks-only": PASS}, "streaks-only"),  # the only one through every gate, though lower on the mean
    ({"supervised-full-f1": 28.6, "finetune-full-f1": 28.0, "streaks-only": 27.0},
     {"streaks-only": {**PASS, "clips": False}}, None),  # none passes: the default stays
    ({"supervised-full-f1": 28.6, "finetune-full-f1": 28.55, "streaks-only": 27.0},
     {run: PASS for run in ARMS}, "finetune-full-f1"),  # task transfer within 0.1 dB
    ({"supervised-full-f1": 28.6, "finetune-full-f1": 28.0, "streaks-only": 27.0},
     {run: PASS for run in ARMS}, "supervised-full-f1"),
])
def test_the_rule_picks_among_the_candidates_that_pass_every_gate(
        monkeypatch: pytest.MonkeyPatch, scored: dict[str, float], gates: dict[str, dict[str, bool]],
        pick: str | None) -> None:
    """docs/DECISIONS.md, "The streaks-only default": gates first, then the selection mean."""
    results = _results_module()
    summary = {run: {"selection_psnr_y": y, "fidelity_psnr_y": 55.0} for run, y in scored.items()}
    monkeypatch.setattr(results.selection, "summary", summary.get)
    monkeypatch.setattr(results.selection, "gates",
                        lambda run: gates.get(run, {k: False for k in PASS}) if run in scored else None)
    assert results.rule_pick() == pick


@pytest.mark.parametrize("pick", [None, "supervised-full-f1"])
def test_ship_refuses_before_the_rule_has_picked_or_when_the_default_disagrees(monkeypatch: pytest.MonkeyPatch,
                                                                               pick: str | None) -> None:
    results = _results_module()
    monkeypatch.setattr(results, "rule_pick", lambda: pick)
    monkeypatch.setattr(results, "scored_candidates", lambda: ["supervised-full-f1", "finetune-full-f1"])
    zoo = {"derain_student": "supervised-full-f1", "derain_supervised": "finetune-full-f1"}  # the default disagrees
    monkeypatch.setattr(results, "MANIFEST", dataclasses.replace(results.MANIFEST, zoo=zoo))
    monkeypatch.setattr(results, "DEFAULT_MODEL", "derain_supervised")
    with pytest.raises(SystemExit, match="nothing to ship" if pick is None else "the ship rule picks"):
        results.ship_selected()


@pytest.mark.parametrize("means, veils, failing, amount, ships", [
    # the highest mean among the amounts that pass every gate; the smaller within 0.1 dB
    ({0.0: 25.6, 0.25: 26.4, 0.5: 27.0, 0.75: 27.05, 1.0: 27.3}, {0.0: 14.0, 1.0: 22.0}, {1.0}, 0.5, True),
    ({0.0: 25.6, 0.25: 26.4, 0.5: 27.0, 0.75: 27.5, 1.0: 27.3}, {0.0: 14.0, 1.0: 22.0}, set(), 0.75, True),
    # only 0 passes: the joined model still ships, removing no vapour unless asked
    ({0.0: 25.6, 0.25: 26.4, 0.5: 27.0, 0.75: 27.5, 1.0: 27.3}, {0.0: 14.0, 1.0: 22.0}, {0.25, 0.5, 0.75, 1.0},
     0.0, True),
    # a branch that gains less than 0.5 dB on `veil` at amount 1 does not ship
    ({0.0: 25.6, 0.25: 25.6, 0.5: 25.75, 0.75: 25.75, 1.0: 25.8}, {0.0: 14.0, 1.0: 14.3}, set(), 0.5, False),
    ({0.0: 25.6, 0.25: 26.4, 0.5: 27.0, 0.75: 27.5, 1.0: 27.3}, {0.0: 14.0, 1.0: 22.0},
     {0.0, 0.25, 0.5, 0.75, 1.0}, None, False),  # nothing passes
])
def test_the_vapour_rule(monkeypatch: pytest.MonkeyPatch, means: dict[float, float], veils: dict[float, float],
                         failing: set[float], amount: float | None, ships: bool) -> None:
    """docs/DECISIONS.md, "The default amount and the ship rule": gates, then the mean, then do less."""
    selection = _results_module().selection
    by_label = {selection.amount_label("run", a): a for a in selection.AMOUNTS}
    veil = {a: veils.get(a, veils[0.0]) for a in selection.AMOUNTS}
    # five mixture parts at the mean, and `veil`: the mixture's mean makes the parts' mean with it
    monkeypatch.setattr(selection, "psnr", lambda label, part: veil[by_label[label]] if part == "veil" else
                        (6 * means[by_label[label]] - veil[by_label[label]]) / 5 if part in selection.SOURCES else 55.0)
    monkeypatch.setattr(selection, "gates", lambda label: {"g": by_label[label] not in failing})
    monkeypatch.setattr(selection, "clips", lambda label: {"eev1": 30.0})
    rule = selection.vapour_rule("run")
    assert (rule["amount"], rule["ships"]) == (amount, ships)


@pytest.mark.parametrize("means, speed, failing, flips", [
    ({1: 25.60, 2: 25.75, 4: 25.80}, {1: 45.0, 2: 25.0, 4: 13.0}, set(), 2),  # 4 is too slow
    ({1: 25.60, 2: 25.65, 4: 25.80}, {1: 45.0, 2: 25.0, 4: 13.0}, set(), 1),  # 2 gains under 0.1 dB: fewer copies
    ({1: 25.60, 2: 25.75, 4: 25.90}, {1: 45.0, 2: 25.0, 4: 21.0}, set(), 4),
    ({1: 25.60, 2: 25.75, 4: 25.90}, {1: 45.0, 2: 25.0, 4: 21.0}, {4}, 2),  # 4 fails a quality gate
    ({1: 25.60, 2: 25.75, 4: 25.90}, {1: 45.0, 2: 25.0, 4: 21.0}, {1, 2, 4}, None),  # nothing passes
])
def test_the_flips_rule(monkeypatch: pytest.MonkeyPatch, means: dict[int, float], speed: dict[int, float],
                        failing: set[int], flips: int | None) -> None:
    """docs/DECISIONS.md, "Averaging over mirrored copies": gates and speed, then the mean, then fewer copies."""
    selection = _results_module().selection
    by_label = {selection.copies_label("m", f): f for f in selection.COPIES}
    monkeypatch.setattr(selection, "summary", lambda label: {
        "selection_psnr_y": means[by_label[label]], "fidelity_psnr_y": 55.0,
        **{f"psnr_y_{part}": means[by_label[label]] for part in selection.SOURCES}})
    monkeypatch.setattr(selection, "gates", lambda label: {"g": by_label[label] not in failing})
    monkeypatch.setattr(selection, "clips", lambda label: {"eev1": 30.0})
    assert selection.flips_rule("m", speed)["flips"] == flips
