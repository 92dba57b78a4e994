"""Distances of candidate synthetic sets to the real training pool, as used in TUNING.md.

Unlike `derain analyze`, the standardisation scale is fixed by three sets that do not change
between iterations (sirr147, Rain800 rainy halves, BSDS500 clean), so that numbers of different
iterations are comparable. The evaluation-only sets (rain100l_test, udgnet43) are not read.

    python docs/study/tuning_distances.py NAME=DIR [NAME=DIR ...]

(run from the repository root; data under ../shared/data or $DERAIN_DATA).
"""

from __future__ import annotations

import sys

import numpy as np

from derain.analysis.distances import domain_accuracy, frechet, median_bandwidth, mmd2, wasserstein
from derain.analysis.sets import parse_set, select_files
from derain.analysis.study import RAIN_MASK as RAIN, STAT_NAMES, measure_set
from derain.paths import data_root


def measure(spec: str) -> np.ndarray:
    image_set = parse_set(spec)
    return measure_set(image_set, select_files(image_set, None, 0), 256, 0).values


def main(specs: list[str]) -> None:
    root = data_root()
    fixed = {
        "sirr147": measure(f"sirr147={root}/real_rainy/sirr147"),
        "rain800": measure(f"rain800={root}/rain800_train/concat:right"),
        "bsds500_clean": measure(f"bsds500_clean={root}/clean/bsds500/test"),
    }
    pool = np.vstack(list(fixed.values()))
    scale = pool.std(axis=0)
    bandwidth = median_bandwidth(pool / scale)
    ref = fixed["sirr147"] / scale
    candidates = {k: v for k, v in fixed.items() if k != "sirr147"}
    candidates |= {spec.split("=", 1)[0]: measure(spec) for spec in specs}
    print("set | mean W | rain-layer W | picture W | Frechet | MMD2 | classifier accuracy [95% CI]")
    for name, values in candidates.items():
        x = values / scale
        w, acc = wasserstein(x, ref), domain_accuracy(x, ref)
        print(f"{name} | {w.mean():.3f} | {w[RAIN].mean():.3f} | {w[~RAIN].mean():.3f} | {frechet(x, ref):.2f} | "
              f"{mmd2(x, ref, bandwidth):.4f} | {acc.accuracy:.2f} [{acc.low:.2f}, {acc.high:.2f}]")
        print("    " + ", ".join(f"{s} {w[i]:.2f} ({np.median(values[:, i]):.3g})" for i, s in enumerate(STAT_NAMES)))
    print("    sirr147 medians: " + ", ".join(f"{s} {np.median(fixed['sirr147'][:, i]):.3g}" for i, s in enumerate(STAT_NAMES)))


if __name__ == "__main__":
    main(sys.argv[1:])
