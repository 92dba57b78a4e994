"""Throughput of the rain synthesiser at 481x321 (BSDS500 size), per preset.

    python benchmarks/bench_synth.py [--pairs 40] [--image PATH]

Columns: `render` is in-memory pairs/s (`render_pair`: what an on-the-fly training loader pays);
`to disk` adds what `derain synth` does per pair (two 8-bit PNGs through `derain.io.write_rgb` and
a JSON sidecar); `copy` is the baseline of the same run that only writes the clean image twice,
so the share of time spent in PNG encoding is visible; `x light` is render speed relative to the
`light` preset (CPU time). Per-pair times are medians, which resist other jobs on a shared machine; the load
average is printed so that the conditions are on record.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from derain.io import read_rgb, write_rgb
from derain.synth import list_presets, load_preset, pair_seed, render_pair
from derain.synth.cli import SUBDIRS, render_source

SIZE = (321, 481)


def bench_scene() -> np.ndarray:
    """A smooth colour scene with edges; rendering cost does not depend on the content."""
    yy, xx = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(np.float32)
    img = np.stack([xx / SIZE[1], yy / SIZE[0], 0.5 + 0.3 * np.sin(xx / 17 + yy / 23)], axis=2)
    img[80:200, 150:300] = (0.7, 0.3, 0.2)
    return np.clip(img, 0, 1)


def median_rate(step: Callable[[int], object], pairs: int) -> tuple[float, float]:
    """Pairs per second from the median wall and CPU times of `pairs` calls of `step(i)`, after a warm-up.

    CPU time (this process only) is what a quiet machine's wall time would be; on a shared machine
    the wall rate drops with the load while the CPU rate does not.
    """
    step(-1)
    wall, cpu = [], []
    for i in range(pairs):
        start, start_cpu = time.perf_counter(), time.process_time()
        step(i)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1.0 / statistics.median(wall), 1.0 / statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40, help="pairs timed per preset")
    parser.add_argument("--image", type=Path, help="clean image to use (default: a generated 481x321 scene)")
    args = parser.parse_args()
    image = read_rgb(args.image) if args.image else bench_scene()
    print(f"image {image.shape[1]}x{image.shape[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "scene.png"
        write_rgb(src, image)
        copy_rate = median_rate(lambda i: [write_rgb(Path(tmp) / f"copy{j}.png", read_rgb(src), overwrite=True)
                                           for j in (0, 1)], args.pairs)
        rows = []
        for name in list_presets():
            preset = load_preset(name)
            render_rate = median_rate(lambda i: render_pair(image, preset, pair_seed(0, "bench", i)), args.pairs)
            stage = Path(tmp) / name
            for sub in SUBDIRS:
                (stage / sub).mkdir(parents=True)
            disk_rate = median_rate(lambda i: render_source(src, [f"p{i}"], preset, i, stage), args.pairs)
            rows.append((name, render_rate, disk_rate))
    light = dict((r[0], r[1][1]) for r in rows).get("light", rows[0][1][1])
    print("pairs/s, wall (CPU):")
    print(f"{'preset':8s} {'render':>16s} {'to disk':>16s} {'x light':>8s}")
    for name, (render_wall, render_cpu), (disk_wall, disk_cpu) in rows:
        print(f"{name:8s} {render_wall:7.1f} ({render_cpu:6.1f}) {disk_wall:7.1f} ({disk_cpu:6.1f}) "
              f"{render_cpu / light:8.2f}")
    print(f"{'copy':8s} {'-':>16s} {copy_rate[0]:7.1f} ({copy_rate[1]:6.1f})   "
          "(baseline: read + two PNG writes, no rain)")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
