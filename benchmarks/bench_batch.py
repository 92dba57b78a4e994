"""Throughput of `derain batch` on Ray against the local engine (`derain remove`), in the same run.

    python benchmarks/bench_batch.py                 # 24 images of 481x321, 3 rounds: about 4 minutes on 2 cores
    python benchmarks/bench_batch.py --images 96     # a longer run: start-up weighs less

Every row runs the real command in a subprocess on the same images made by this script, with the
shipped student. `images/s` counts the work only (the time in the command's own summary line:
the loop for `derain remove`, the Ray job from actor start to the last write for `derain batch`);
`wall s` is the whole command (imports, model loading, joining Ray). Ray rows join Ray instances
this script started beforehand, so Ray's own start (about 10 s here) is in neither column. The
last row is two Ray nodes on 127.0.0.1 (separate raylets, half the CPUs each), the same command
scaled out over a cluster. The local engine gets all CPUs as torch threads. Rows are interleaved
over `--rounds`; the table gives medians (the ratio is the median of per-round ratios). Needs
derain[ray]. Writes docs/benchmarks/batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ray.cluster_utils import Cluster

from derain.io import Picture, write_picture

SUMMARY = re.compile(r"derained (\d+) of (\d+) images in ([\d.]+) s")


def make_images(folder: Path, count: int, h: int = 321, w: int = 481) -> None:
    """Smooth scenes with bright streaks: what the network sees in a rainy photo, made here."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(count):
        img = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin(xx / (7 + i) + yy / 11)], axis=2)
        for _ in range(400):
            y, x = rng.integers(0, h - 12), rng.integers(0, w)
            img[y:y + 12, x] += 0.4
        write_picture(folder / f"img{i:03d}.png", Picture(np.clip(img, 0, 1).astype(np.float32)))


def run(args: list[str], threads: int) -> dict[str, float]:
    """One command, timed; its summary line gives the seconds of work."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "derain", *args], capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    match = SUMMARY.search(proc.stderr)
    if proc.returncode != 0 or match is None or match[1] != match[2]:
        raise SystemExit(f"derain {' '.join(args)} failed:\n{proc.stderr}")
    return {"images": int(match[1]), "seconds": float(match[3]), "wall": wall}


def start_cluster(node_cpus: list[float]) -> Cluster:
    """Ray nodes on this machine (a separate raylet each), for the commands to join with --address."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": node_cpus[0], "include_dashboard": False})
    for cpus in node_cpus[1:]:
        cluster.add_node(num_cpus=cpus)
    cluster.wait_for_nodes()
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3, help="each round runs every row once; medians are reported")
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks/batch.json"))
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0))
    clusters = [start_cluster([cpus]), start_cluster([cpus / 2, cpus / 2])]
    configs = [  # name, workers, extra arguments (none: the local engine)
        ("local: derain remove", f"1 process x {cpus} threads", []),
        ("Ray, 1 actor", f"1 actor x {cpus} threads", ["--address", clusters[0].address, "--actors", "1"]),
        ("Ray, 2 actors", "2 actors x 1 thread", ["--address", clusters[0].address, "--actors", "2"]),
        ("Ray, 2 nodes on 127.0.0.1", f"2 nodes x 1 actor x {max(1, cpus // 2)} thread",
         ["--address", clusters[1].address, "--actors", "2"]),
    ]
    rates: list[list[float]] = [[] for _ in configs]
    walls: list[list[float]] = [[] for _ in configs]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inputs = Path(tmp) / "in"
            make_images(inputs, args.images)
            for r in range(args.rounds):  # rows interleaved, so a busy spell on the machine hits all of them
                for i, (_, _, extra) in enumerate(configs):
                    out = Path(tmp) / f"out{r}-{i}"
                    result = run(["batch" if extra else "remove", str(inputs), "-o", str(out), *extra], cpus)
                    rates[i].append(result["images"] / result["seconds"])
                    walls[i].append(result["wall"])
    finally:
        for cluster in clusters:
            cluster.shutdown()
    rows = [{"engine": name, "workers": workers, "images_per_s": statistics.median(rates[i]),
             "ratio": statistics.median(a / b for a, b in zip(rates[i], rates[0])),
             "wall_s": statistics.median(walls[i]), "images_per_s_each_round": rates[i]}
            for i, (name, workers, _) in enumerate(configs)]
    print(f"{args.images} images of 481x321, {cpus} CPUs, median of {args.rounds} rounds\n\n"
          "| engine | workers | images/s | ratio to local | wall s |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['engine']} | {r['workers']} | {r['images_per_s']:.2f} | {r['ratio']:.2f}x | {r['wall_s']:.1f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"images": args.images, "size": "481x321", "cpus": cpus, "rounds": args.rounds,
                                     "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
