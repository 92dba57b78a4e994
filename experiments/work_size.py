"""The engine's working size (issue 28 item 5; docs/DECISIONS.md, "Rain at the camera's scale").

    python experiments/work_size.py [MODEL]   # default: the shipped default model

Scores MODEL with `derain eval --work-size N` for every candidate N on the selection set's
`large-heavy` part (heavy rain at 3x scale on 1500x1500 photos, scored whole) and on real_ref,
into docs/work_size/<model>-<N>-<set>/, then prints the table and the size the rule picks. The
other selection parts are no larger than 500 px, so no candidate changes them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path

from scores import ROOT
from selection import REAL_REF, SELECTION, build, by_clip

from derain.paths import DEFAULT_MODEL

CANDIDATES = [0, 1000, 750, 640, 500]  # px; 0: full resolution
PREFER_MARGIN = 0.1  # dB on large-heavy within which the larger size is preferred
CLIP_MARGIN = 0.1  # dB a real_ref clip may lose against full resolution
OUT = ROOT / "docs" / "work_size"
SETS = {"large-heavy": str(SELECTION / "large-heavy"), REAL_REF: REAL_REF}


def scores(model: str, size: int, name: str) -> dict[str, float]:
    """Mean Y-PSNR of `model` at `size` on set `name`, per real_ref clip for real_ref."""
    out = OUT / f"{Path(model).stem}-{size}-{name}"
    if not (out / "results.json").exists():
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        subprocess.run(["derain", "eval", "-m", model, "-d", SETS[name], "--work-size", str(size), "-o", str(out),
                        "--overwrite"], check=True, env=env, stdout=subprocess.DEVNULL)
    scores = {row["image"]: row["psnr_y"] for row in json.loads((out / "results.json").read_text())["rows"]}
    return by_clip(scores) if name == REAL_REF else {name: statistics.mean(scores.values())}


def pick(table: dict[int, dict[str, float]]) -> int:
    """The rule: the best on large-heavy, a larger size within PREFER_MARGIN, no real_ref clip more
    than CLIP_MARGIN below full resolution."""
    full = table[0]
    allowed = [n for n in CANDIDATES if all(v >= full[k] - CLIP_MARGIN for k, v in table[n].items()
                                            if k != "large-heavy")]
    best = max(table[n]["large-heavy"] for n in allowed)
    return max((n for n in allowed if table[n]["large-heavy"] >= best - PREFER_MARGIN),
               key=lambda n: n or float("inf"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    model = parser.parse_args().model
    build()
    table = {n: {k: v for name in SETS for k, v in scores(model, n, name).items()} for n in CANDIDATES}
    keys = list(table[0])
    print("| work size | " + " | ".join(keys) + " |\n|" + "---|" * (len(keys) + 1))
    for n, row in table.items():
        print(f"| {n or 'full'} | " + " | ".join(f"{row[k]:.2f}" for k in keys) + " |")
    print("picked:", pick(table) or "full resolution")


if __name__ == "__main__":
    main()
