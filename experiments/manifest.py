"""The experiments manifest (experiments/manifest.yaml): every run, every scored model, the zoo.

    python experiments/manifest.py args RUN      # the stage and options of `derain train` that make runs/RUN
    python experiments/manifest.py runs STUDY    # the runs of a study (earlier, long), one a line

The shell lanes (experiments/lanes.sh) name runs only and ask `args` for the rest; scores.py,
results.py and selection.py read the same file through `load()`. Nothing here imports derain, so
the lanes pay only for reading a YAML file.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PATH = Path(__file__).with_name("manifest.yaml")
STUDIES = ("earlier", "long")


@dataclass(frozen=True)
class Run:
    """runs/<name>: `derain train <stage>` from a profile or a config file, plus command-line keys."""

    name: str
    stage: str
    study: tuple[str, ...]
    profile: str | None = None
    config: str | None = None  # a YAML file, relative to the repository root
    args: dict[str, Any] = field(default_factory=dict)  # config keys set on the command line
    eval: tuple[str, ...] = ()  # sets `results.py eval` scores the model on

    @property
    def seed(self) -> int:
        return self.args.get("seed", 0)

    @property
    def model(self) -> str:
        """Its model file, what `derain eval -m` takes."""
        return f"runs/{self.name}/model.safetensors"

    def command(self) -> list[str]:
        """The arguments of `derain train` that make this run, but for --out and the machine's options."""
        options = [word for key, value in self.args.items()
                   for word in (f"--{key.replace('_', '-')}", "none" if value is None else str(value))]
        source = ["--config", self.config] if self.config else ["--profile", self.profile]
        return [self.stage, *source, *options]


@dataclass(frozen=True)
class Entry:
    """A model `results.py eval` scores, into docs/eval/<label>-<set>/ for each of `sets`."""

    label: str
    model: str  # what `derain eval -m` takes
    sets: tuple[str, ...]
    run: Run | None = None  # the run that trained it (its label is the run's name)
    trained_on: str | None = None  # official peer weights: what they were trained on


@dataclass(frozen=True)
class Export:
    """An ONNX file of a model (`derain export onnx`), scored under its own label like a model."""

    label: str
    model: str  # what `derain export onnx -m` takes
    int8: bool = False
    reduce_range: bool | None = None  # int8 with 7-bit weights (CPUs without VNNI); None: by the exporting CPU

    @property
    def path(self) -> str:
        return f"runs/onnx/{self.label}.onnx"

    @property
    def kind(self) -> str:
        """What the file is, for tables: `fp32`, `int8` or `int8, 7-bit weights`."""
        if not self.int8:
            return "fp32"
        return "int8" if self.reduce_range is None else f"int8, {7 if self.reduce_range else 8}-bit weights"

    def command(self) -> list[str]:
        flags = ["--int8"] if self.int8 else []
        if self.int8 and self.reduce_range is not None:
            flags.append("--reduce-range" if self.reduce_range else "--full-range")
        return ["derain", "export", "onnx", "-m", self.model, "-o", self.path, *flags]


@dataclass(frozen=True)
class Manifest:
    """experiments/manifest.yaml, read."""

    runs: dict[str, Run]
    entries: dict[str, Entry]  # by label: the models of `models:`, then the runs with `eval`
    zoo: dict[str, str]  # shipped model name -> the run it is copied from
    exports: dict[str, Export]  # by label
    archived: dict[str, str]  # study -> the commit whose profiles and scripts made its runs

    def archived_run(self, name: str) -> str | None:
        """The commit to check out to retrain `name`, if every study it belongs to is archived."""
        studies = self.runs[name].study
        return self.archived[studies[0]] if all(s in self.archived for s in studies) else None


def _run(name: str, spec: dict[str, Any]) -> Run:
    """A run from its manifest entry; what cannot make a command is an error here, not in a lane."""
    if not isinstance(spec, dict) or (spec.get("profile") is None) == (spec.get("config") is None):
        raise ValueError(f"{PATH.name}: run {name} needs exactly one of profile and config")
    run = Run(name, **{**spec, "study": tuple(spec.get("study", ())), "eval": tuple(spec.get("eval", ()))})
    if not run.study or not set(run.study) <= set(STUDIES):
        raise ValueError(f"{PATH.name}: run {name} needs a study among {', '.join(STUDIES)}, got {run.study}")
    return run


@functools.cache
def load(path: Path = PATH) -> Manifest:
    """Read and check the manifest: one label per model, zoo entries that name runs."""
    data = yaml.safe_load(path.read_text())
    runs = {name: _run(name, spec) for name, spec in data["runs"].items()}
    entries = {label: Entry(label, label, tuple(spec["eval"]), trained_on=spec.get("trained_on"))
               for label, spec in data["models"].items()}
    for run in runs.values():
        if run.eval:
            if run.name in entries:
                raise ValueError(f"{path.name}: {run.name} is both a run and a model")
            entries[run.name] = Entry(run.name, run.model, run.eval, run)
    unknown = sorted(set(data["zoo"].values()) - set(runs))
    if unknown:
        raise ValueError(f"{path.name}: zoo models ship from runs it does not list: {', '.join(unknown)}")
    exports = {label: Export(label, **spec) for label, spec in data.get("exports", {}).items()}
    archived = dict(data.get("archived", {}))
    if not set(archived) <= set(STUDIES):
        raise ValueError(f"{path.name}: archived studies must be among {', '.join(STUDIES)}")
    return Manifest(runs, entries, dict(data["zoo"]), exports, archived)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("args", help="STAGE and options of `derain train` for RUN").add_argument("run")
    sub.add_parser("runs", help="the runs of a study").add_argument("study", choices=STUDIES)
    args = parser.parse_args()
    manifest = load()
    if args.command == "args":
        if args.run not in manifest.runs:
            parser.error(f"{args.run}: no such run in {PATH.name}")
        commit = manifest.archived_run(args.run)
        if commit:
            parser.error(f"{args.run} belongs to an archived study: its profiles and scripts are those of commit "
                         f"{commit[:12]} (git checkout {commit[:12]}), not of this one")
        print(" ".join(manifest.runs[args.run].command()))
    else:
        print("\n".join(run.name for run in manifest.runs.values() if args.study in run.study))


if __name__ == "__main__":
    main()
