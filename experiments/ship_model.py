"""Copy a trained derainer into the package's model zoo, with its evaluation scores in the metadata.

    python experiments/ship_model.py runs/finetune-full-f1 --name derain_student \
        --eval docs/eval/finetune-full-f1-rain100l_test --eval docs/eval/finetune-full-f1-udgnet43 \
        --description "Task-transfer student ..."

`python experiments/results.py ship` calls it for every model of the manifest's zoo.

The weights are re-saved through `derain.weights.save_model`, so the metadata travels inside the
safetensors header (and in the readable JSON beside it); nothing is edited by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from derain.paths import DEFAULT_MODEL
from derain.weights import ZOO, load_model, save_model


def ship(run_dir: Path, name: str, evals: list[Path], description: str, vapour: float | None = None) -> dict:
    """Save the run's model as zoo/<name>.safetensors with its description and evaluation means (and,
    for a model with a vapour branch, the share of the vapour it removes by default)."""
    model, meta = load_model(run_dir / "model.safetensors")
    scores = {}
    for folder in evals:
        result = json.loads((folder / "results.json").read_text())
        scores[result["dataset"]] = {k: round(v, 4) for k, v in result["mean"].items() if k != "seconds"}
    meta.pop("arch_kwargs", None)
    arch = meta.pop("arch")
    meta.pop("derain_version", None)
    meta |= {"description": description, "run_dir": str(run_dir), "scores": scores}
    if vapour is not None:
        meta["vapour"] = vapour
    return save_model(ZOO / f"{name}.safetensors", model, arch, meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="training run holding model.safetensors")
    parser.add_argument("--name", default=DEFAULT_MODEL)
    parser.add_argument("--eval", action="append", default=[], type=Path, help="a `derain eval` output folder")
    parser.add_argument("--description", required=True)
    args = parser.parse_args()
    print(json.dumps(ship(args.run_dir, args.name, args.eval, args.description), indent=2))


if __name__ == "__main__":
    main()
