"""experiments/manifest.yaml: every run it lists can be trained, the shell lanes train exactly
those, every label names one model, and the committed evaluations and zoo agree with it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from derain.paths import DEFAULT_MODEL
from derain.training.config import STAGES, load_config

ROOT = Path(__file__).resolve().parents[1]
FIXED_STEPS = 6000  # issue 29: the budget its pilot fixed (docs/DECISIONS.md, "The paper's claim in its own regime")
EXPERIMENTS = ROOT / "experiments"
sys.path.insert(0, str(EXPERIMENTS))  # the experiments are scripts that import their siblings

import manifest  # noqa: E402
import scores  # noqa: E402
import selection  # noqa: E402

MANIFEST = manifest.load()


def named_by(script: str) -> set[str]:
    """The runs a shell script trains (`train RUN`, not `derain train`), comments aside."""
    code = "\n".join(line.split("#")[0] for line in (EXPERIMENTS / script).read_text().splitlines())
    return set(re.findall(r"(?<![\w-])(?<!derain )train ([\w.-]+)", code))


@pytest.mark.parametrize("run", [r for r in MANIFEST.runs.values() if not MANIFEST.archived_run(r.name)],
                         ids=lambda r: r.name)
def test_every_live_run_has_a_stage_and_a_valid_config(run: manifest.Run) -> None:
    assert run.stage in STAGES
    source = ROOT / run.config if run.config else run.profile
    cfg = load_config(run.stage, source, run.args)
    assert cfg.seed == run.seed


def test_every_experiment_config_is_a_run_of_the_manifest() -> None:
    """Only the live study's: an archived study's configs are those of its commit."""
    used = {run.config for run in MANIFEST.runs.values() if run.config and not MANIFEST.archived_run(run.name)}
    assert {f"experiments/configs/{p.name}" for p in (EXPERIMENTS / "configs").glob("*.yaml")} == used


def test_the_shell_lanes_train_exactly_the_runs_of_the_live_study() -> None:
    """The long study is trained by long_runs.sh; an archived study by the scripts of its commit only."""
    assert set(MANIFEST.archived) == {"earlier"}
    assert named_by("long_runs.sh") == {r.name for r in MANIFEST.runs.values() if "long" in r.study}
    assert not [p.name for p in EXPERIMENTS.glob("*.sh") if named_by(p.name) - named_by("long_runs.sh")]


def test_labels_are_unique() -> None:
    """PyYAML keeps the last of two equal keys, so look at the node tree, where both still are."""
    sections = {key.value: value for key, value in yaml.compose(manifest.PATH.read_text()).value}
    names = [key.value for section in ("runs", "models", "zoo", "exports") for key, _ in sections[section].value]
    assert len(names) == len(set(names)), "a name twice in experiments/manifest.yaml"


def test_the_reader_prints_the_arguments_of_a_run() -> None:
    def args(run: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(EXPERIMENTS / "manifest.py"), "args", run],
                              capture_output=True, text=True, timeout=60)

    assert args("supervised-full-f1").stdout == "supervised --profile full\n"
    ablation = "finetune --config experiments/configs/ablation-f0.1.yaml --seed 1\n"
    assert args("ablation-finetune-f0.1-s1").stdout == ablation
    assert args("distill-full").stdout == "distill --profile full\n"  # in both studies: the long run
    archived = args("finetune-a-only-f0.1")  # the earlier study's: today's profiles would train something else
    assert archived.returncode == 2 and MANIFEST.archived["earlier"][:12] in archived.stderr
    missing = args("finetune-full-f0.3")
    assert missing.returncode == 2 and "no such run" in missing.stderr


def test_every_evaluation_folder_is_of_a_model_of_the_manifest() -> None:
    scored = {f"{e.label}-{s}" for e in MANIFEST.entries.values() for s in e.sets}
    names = {*MANIFEST.entries, *MANIFEST.runs, *MANIFEST.zoo, *MANIFEST.exports}
    parts = set(selection.PARTS)
    for folder in (ROOT / "docs" / "eval").iterdir():
        amount = re.match(r"(.+)-vapour[\d.]+-", folder.name)  # a streaks-and-vapour run at one --vapour amount
        if amount:
            assert MANIFEST.runs[amount.group(1)].stage == "vapour", folder.name
            continue
        copies = re.match(r"(.+)-flips\d-", folder.name)  # a shipped model averaged over mirrored copies
        if copies:
            assert copies.group(1) in MANIFEST.zoo, folder.name
            continue
        label, _, part = folder.name.rpartition("-sel-")
        alone = folder.name.removesuffix(f"-{selection.REAL_REF}")  # the selection's real_ref part
        assert folder.name in scored or (label in names and part in parts) or alone in names, folder.name


def test_the_zoo_ships_the_runs_the_manifest_names() -> None:
    configs = {}
    for name, run in MANIFEST.zoo.items():
        meta = json.loads((ROOT / "src" / "derain" / "zoo" / f"{name}.json").read_text())
        assert Path(meta["run_dir"]).name == run
        configs[name] = scores.config(run)
    runs = {name: MANIFEST.runs[run] for name, run in MANIFEST.zoo.items()}
    assert (runs["derain_student"].stage, runs["derain_supervised"].stage) == ("finetune", "supervised")
    if runs["derain_student"].study == runs["derain_supervised"].study:  # a matched pair of arms
        student, supervised = configs["derain_student"], configs["derain_supervised"]
        assert (student["fraction"], student["seed"], student["pairs"]) == \
            (supervised["fraction"], supervised["seed"], supervised["pairs"])
    else:  # docs/DECISIONS.md: a long arm ships as the default before the other has finished
        assert "long" in runs[DEFAULT_MODEL].study
    streaks = configs["derain_streaks"]  # issue 28: the supervised arm refined on streaks-only targets
    assert runs["derain_streaks"].stage == "supervised" and streaks["synth"]["keep_veil"]
    assert Path(streaks["init"]).name == MANIFEST.zoo["derain_supervised"]


def test_both_arms_of_the_minority_ablation_have_the_same_budget() -> None:
    """The long-run ablation (issue 10): each seed's two arms differ only in what makes them arms."""
    for seed in (0, 1, 2):
        supervised, finetune = (MANIFEST.runs[f"ablation-{stage}-f0.1-s{seed}"] for stage in ("supervised", "finetune"))
        a, b = (vars(load_config(r.stage, ROOT / r.config, r.args)) for r in (supervised, finetune))
        assert sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)) == ["distill_weight", "init"]
        assert (a["steps"], a["fraction"], a["seed"]) == (20000, 0.1, seed)


@pytest.mark.parametrize("large, clip, picked", [
    ({0: 16.0, 1000: 18.0, 750: 19.8, 640: 20.0, 500: 20.05}, {}, 640),  # 500 within 0.1 dB: the larger
    ({0: 16.0, 1000: 18.0, 750: 19.8, 640: 20.0, 500: 20.5}, {}, 500),
    ({0: 16.0, 1000: 18.0, 750: 19.8, 640: 20.0, 500: 20.5}, {500: -0.2}, 640),  # a real_ref clip loses: not 500
    ({0: 20.0, 1000: 19.0, 750: 18.0, 640: 17.0, 500: 16.0}, {}, 0),  # full resolution is best: off
])
def test_the_working_size_rule(large: dict[int, float], clip: dict[int, float], picked: int) -> None:
    """docs/DECISIONS.md, "Rain at the camera's scale"."""
    import work_size

    table = {n: {"large-heavy": v, "eev1": 30.0, "eev3": 28.0 + clip.get(n, 0.0)} for n, v in large.items()}
    assert work_size.pick(table) == picked


def test_the_minority_arms_are_the_ablation_seeds_only() -> None:
    """streaks-only and the issue-29 runs are supervised runs with configs of their own: no seeds of the
    ablation (stop 29's claim table averaged streaks-only in as a fourth supervised seed)."""
    for stage in ("supervised", "finetune"):
        assert scores.minority_arm(stage) == [f"ablation-{stage}-f0.1-s{seed}" for seed in (0, 1, 2)]


def test_both_arms_of_the_fixed_pairs_regime_have_the_same_budget() -> None:
    """Issue 29 (docs/DECISIONS.md, "The paper's claim in its own regime"): at each size and seed the
    two arms differ only in what makes them arms, on the same pairs, with the pilot's budget."""
    for pairs in scores.FIXED_SIZES:
        tt, sup = scores.fixed_arm("finetune", pairs), scores.fixed_arm("supervised", pairs)
        assert len(tt) == len(sup) == 3
        for seed, (a_run, b_run) in enumerate(zip(sup, tt)):
            a, b = (vars(load_config(MANIFEST.runs[r].stage, ROOT / MANIFEST.runs[r].config, MANIFEST.runs[r].args))
                    for r in (a_run, b_run))
            assert sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)) == ["distill_weight", "init"]
            assert (a["fixed_pairs"], a["fixed_seed"], a["seed"], a["steps"]) == (pairs, 0, seed, FIXED_STEPS)
            assert a["synth"].keep_veil


@pytest.mark.parametrize("gaps, outcome", [
    ([0.6, 0.5, 0.7], "task transfer wins"), ([0.9, 0.9, -0.1], "undecided"), ([0.4, 0.4, 0.4], "undecided"),
    ([-0.5, -0.6, -0.5], "task transfer loses")])
def test_the_rule_of_the_fixed_pairs_regime(gaps: list[float], outcome: str) -> None:
    import results

    assert results.criterion(gaps) == outcome
