"""One `derain remove` of a 12-MP photo, end to end, broken into its parts, per backend (issue 31).

    python benchmarks/bench_e2e.py --json docs/benchmarks/e2e.json       # 4000x3000, a few minutes
    python benchmarks/bench_e2e.py --size 640x480 --repeat 1 --no-full-res  # a smoke test
    python benchmarks/bench_e2e.py --baseline 666284f                      # also the engine of a commit

The photo is made here: a smooth synthetic scene with light rain rendered on it by the `derain
synth` engine, written as an 8-bit PNG. Each row runs in a fresh subprocess (so peak resident
memory counts that row alone) what `derain remove photo.png` runs: `read_picture`,
`Derainer.remove`, `write_picture` with the command's defaults. Columns:

- start-up: importing the engine and loading the model (for ONNX rows, the .onnx file);
- decode, encode: `read_picture`, `write_picture` (PNG at the default zlib level);
- network: the time inside the backend's calls (streak pass and vapour pass); engine: the rest of
  `Derainer.remove` (conversions, resizing, blending, checks);
- net alone: the backend called again on the very tensors it was given, with nothing around it;
- seen: the pixels the network was given over the photo's (tile overlap; at the working size,
  the working-size copy's share);
- total: decode + network + engine + encode, the median of `--repeat` runs after one cold run
  (`first`, which also pays one-time costs); x torch: torch's total over this row's, from the same
  run, at the same working size.

A second table runs the real `derain remove` on a folder of `--folder` copies of the photo (torch
and int8): seconds per photo there, beside one photo's total, with the network on every thread
(no core to spare, so one photo at a time) and on one thread fewer (the pipeline: decoding the
next photo and encoding the previous one overlap the network on the spare core).

Backends: torch fp32, onnxruntime fp32 and static int8 (exported here with
`derain.onnx_backend.export_onnx`, calibrated as `derain export onnx --int8` does on the data
root's training photos, or on crops of the benchmark photo without a data root; weights 7-bit on
CPUs without VNNI), all with the default model at the default working size and `--vapour 0`;
then a streaks-and-vapour model (`streaks_vapour_s`, random weights: speed only) at vapour 1, and
(unless `--no-full-res`) torch and int8 at `--work-size 0`, tiled. `--baseline REV` runs the rows
again on the engine of git revision REV (`git archive` of its src/), with its own defaults.
`--busy` marks numbers measured while other work shares the CPU; the JSON records the CPU model,
its flags (VNNI or not) and the PNG sizes at several zlib levels.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np

from derain.io import Encoding, Picture, read_picture, write_picture
from derain.paths import DEFAULT_MODEL, WORK_SIZE
from derain.weights import ZOO

ROOT = Path(__file__).resolve().parents[1]

RUN_SCRIPT = """
import time
start = time.perf_counter()
import json, resource, statistics, sys, torch
from derain.inference import Derainer, load_model
from derain.io import read_picture, write_picture
torch.set_num_threads({threads})
spec = {spec!r}
if spec.get("arch"):
    from derain.archs import create_model
    torch.manual_seed(0)
    d = Derainer(create_model(spec["arch"]), {{"name": spec["arch"]}}, work_size=spec["work_size"])
else:
    d = load_model(spec["model"], backend=spec["backend"], work_size=spec["work_size"])
startup = time.perf_counter() - start

def peak_mib():
    # this process's peak resident memory: VmHWM, since ru_maxrss also counts the parent's, forked
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


calls = []  # (backend function, its input (kept after the cold run), its shape, seconds, streak pass or not)

def timed(fn, streaks):
    def run(x):
        t = time.perf_counter()
        y = fn(x)
        calls.append((fn, x.clone() if runs else None, x.shape, time.perf_counter() - t, streaks))
        return y
    return run

d.forward = timed(d.forward, True)
if d.veil is not None:
    d.veil = timed(d.veil, False)
runs = []
for _ in range({repeat} + 1):
    calls.clear()
    t0 = time.perf_counter()
    pic = read_picture(spec["src"])
    t1 = time.perf_counter()
    pic.rgb = d.remove(pic.rgb, vapour=spec["vapour"])
    t2 = time.perf_counter()
    write_picture(spec["dst"], pic, overwrite=True)
    t3 = time.perf_counter()
    network = sum(c[3] for c in calls)
    alone = []
    for fn, x, _, _, _ in calls if runs else []:
        t = time.perf_counter()
        fn(x)
        alone.append(time.perf_counter() - t)
    runs.append({{"decode": t1 - t0, "network": network, "engine": t2 - t1 - network, "encode": t3 - t2,
                  "net_alone": sum(alone), "seen": sum(c[2][-1] * c[2][-2] for c in calls if c[4])}})
    if len(runs) == 1:  # the cold run alone, as `derain remove` runs it: no inputs kept for "net alone"
        peak = peak_mib()
rest = runs[1:] or runs
row = {{key: statistics.median(r[key] for r in rest) for key in rest[0]}}
row.update(startup=startup, first=sum(runs[0][k] for k in ("decode", "network", "engine", "encode")),
           peak_mib=peak, tiles=sum(c[4] for c in calls))
print(json.dumps(row))
"""


def make_photo(h: int, w: int) -> np.ndarray:
    """A smooth scene (gradients, slow waves, a few flat patches, their scale that of the frame) with
    light rain rendered on it: float32 (H, W, 3) in [0, 1]."""
    from derain.synth import load_preset, render_pair

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    s = w / 481  # the features of bench_batch's 481x321 scenes, at this width
    img = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin(xx / (7 * s) + yy / (11 * s))], axis=2)
    for _ in range(6):
        y, x = rng.integers(0, h * 3 // 4), rng.integers(0, w * 3 // 4)
        img[y:y + h // 5, x:x + w // 6] = rng.uniform(0.2, 0.8, 3)
    return render_pair(np.clip(img, 0, 1), load_preset("light"), 0)[1]


def calibration(photo: np.ndarray) -> tuple[list[np.ndarray], str]:
    """Crops as `derain export onnx --int8` draws them (the data root's training photos), or 256-px
    crops of the benchmark photo where there is no data root."""
    from derain.calibration import CALIBRATION_SOURCES, calibration_crops, calibration_photos
    from derain.errors import DerainError

    try:
        return calibration_crops(calibration_photos(CALIBRATION_SOURCES)), ", ".join(CALIBRATION_SOURCES)
    except DerainError:
        rng = np.random.default_rng(0)
        h, w = photo.shape[:2]
        size = min(256, h, w)
        crops = []
        for _ in range(16):
            y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
            crops.append(np.ascontiguousarray(photo[y:y + size, x:x + size].transpose(2, 0, 1)[None]))
        return crops, "crops of the benchmark photo"


def cpu() -> dict[str, object]:
    """The CPU's model name and the flags that decide the int8 kernels."""
    flags: set[str] = set()
    name = platform.processor()
    try:
        info = Path("/proc/cpuinfo").read_text()
        name = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        flags = set(next(line for line in info.splitlines() if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return {"model": name, "cores": len(os.sched_getaffinity(0)), "flags": [f for f in wanted if f in flags],
            "vnni": bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})}


def folder_run(model: str, photo: Path, count: int, into: Path, threads: int) -> float:
    """Seconds per photo of `derain remove` on a folder of `count` copies of `photo` (the pipeline),
    from the command's own summary line (model loading excluded)."""
    folder = into / "folder"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "in").mkdir(parents=True)
    for i in range(count):
        shutil.copy(photo, folder / "in" / f"{i}.png")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-m", "derain", "remove", str(folder / "in"), "-o", str(folder / "out"),
                           "-m", model], capture_output=True, text=True, env=env)
    match = re.search(r"derained (\d+) of (\d+) images in ([\d.]+) s", proc.stderr)
    if proc.returncode != 0 or match is None:
        raise SystemExit(f"derain remove on a folder failed:\n{proc.stderr[-3000:]}")
    return float(match[3]) / count


def measure(spec: dict, src: Path | None, threads: int, repeat: int) -> dict:
    """One row in a fresh subprocess; `src`: the src/ folder of the engine to run (None: this one)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    script = RUN_SCRIPT.format(threads=threads, spec=spec, repeat=repeat)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{spec['name']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def png_sizes(photo: np.ndarray, levels: tuple[int, ...] = (1, 6, 9)) -> list[dict]:
    """Bytes and seconds of 8-bit PNG at each zlib level, for the benchmark photo and, with a data
    root, the Kodak photos (kodak24): what `--png-compression` trades."""
    import time

    from derain.data.catalog import dataset_path
    from derain.errors import DerainError
    from derain.io import list_images

    sets = {"benchmark photo": [photo]}
    try:
        sets["kodak24 (24 photos)"] = [read_picture(p).rgb for p in list_images(dataset_path("kodak24"))]
    except DerainError:
        pass
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, images in sets.items():
            for level in levels:
                size, seconds = 0, 0.0
                for i, image in enumerate(images):
                    path = Path(tmp, f"{i}.png")
                    t = time.perf_counter()
                    write_picture(path, Picture(image), overwrite=True, encoding=Encoding(png_level=level))
                    seconds += time.perf_counter() - t
                    size += path.stat().st_size
                rows.append({"images": name, "level": level, "bytes": size, "seconds": seconds})
    for row in rows:
        base = next(r for r in rows if r["images"] == row["images"] and r["level"] == 6)
        row["bytes_vs_6"] = row["bytes"] / base["bytes"]
    return rows


def baseline_src(rev: str, into: Path) -> Path:
    """The src/ folder of git revision `rev`, unpacked into `into`."""
    data = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="4000x3000", help="photo size, WxH")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row, after a cold one")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--no-full-res", action="store_true", help="skip the --work-size 0 (tiled) rows")
    parser.add_argument("--baseline", metavar="REV", help="also run every row on the engine of this git revision")
    parser.add_argument("--folder", type=int, default=4, metavar="N",
                        help="also time `derain remove` on a folder of N copies (its pipeline); 0: skip")
    parser.add_argument("--busy", action="store_true", help="mark the numbers as measured beside other work")
    parser.add_argument("--json", type=Path, help="write the table here (e.g. docs/benchmarks/e2e.json)")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    import onnxruntime
    import torch

    from derain.onnx_backend import export_onnx, int8_saturates
    from derain.weights import load_model

    tmp = tempfile.TemporaryDirectory()
    folder = Path(tmp.name)
    photo = make_photo(h, w)
    src = folder / "photo.png"
    write_picture(src, Picture(photo))
    model, meta = load_model(DEFAULT_MODEL)
    crops, calibrated_on = calibration(photo)
    fp32, int8 = folder / "fp32.onnx", folder / "int8.onnx"
    export_onnx(fp32, model, meta)
    export_onnx(int8, model, meta, calibration=crops, note=f" from {calibrated_on}")
    base = {"src": str(src), "dst": str(folder / "out.png"), "vapour": 0.0, "arch": None}
    # the default by its file, so that a baseline engine whose zoo predates it runs the same weights
    specs = [{**base, "name": "torch fp32", "model": str(ZOO / f"{DEFAULT_MODEL}.safetensors"), "backend": "torch"},
             {**base, "name": "onnx fp32", "model": str(fp32), "backend": "auto"},
             {**base, "name": "onnx int8", "model": str(int8), "backend": "auto"},
             {**base, "name": "torch fp32, streaks_vapour_s, vapour 1", "arch": "streaks_vapour_s", "vapour": 1.0}]
    specs = [{**s, "work_size": WORK_SIZE} for s in specs]
    if not args.no_full_res:
        specs += [{**s, "work_size": 0} for s in specs[:3:2]]  # torch and int8, tiled
    versions: list[tuple[str, Path | None]] = [("this", None)]
    if args.baseline:
        versions.append((args.baseline, baseline_src(args.baseline, folder / "baseline")))
    rows = []
    for version, version_src in versions:
        for spec in specs:
            result = measure(spec, version_src, args.threads, args.repeat)
            total = sum(result[k] for k in ("decode", "network", "engine", "encode"))
            rows.append({"version": version, "row": spec["name"], "work_size": spec["work_size"],
                         "vapour": spec["vapour"], **result, "total": total, "seen": result["seen"] / (h * w)})
            print(f"measured {version}: {spec['name']} at work size {spec['work_size']}", file=sys.stderr, flush=True)
    for row in rows:
        ref = next(r for r in rows if r["version"] == row["version"] and r["row"] == "torch fp32"
                   and r["work_size"] == row["work_size"])
        row["x_torch"] = ref["total"] / row["total"]
        same = [r for r in rows if r["version"] != row["version"] and r["row"] == row["row"]
                and r["work_size"] == row["work_size"]]
        if same and row["version"] == "this":
            row["x_baseline"] = same[0]["total"] / row["total"]
    machine = cpu()
    state = "busy: other work shared the CPU" if args.busy else "quiet"
    print(f"\n{w}x{h} PNG, {args.threads} threads, {machine['model']} ({', '.join(machine['flags'])}), {state}; "
          f"medians of {args.repeat} runs after a cold one, seconds\n")
    print("| version | row | work size | start-up | decode | network | engine | encode | total | first | net alone "
          "| seen | peak MiB | x torch |" + (" x baseline |" if args.baseline else ""))
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if args.baseline else ""))
    for r in rows:
        print(f"| {r['version']} | {r['row']} | {r['work_size']} | {r['startup']:.2f} | {r['decode']:.2f} | "
              f"{r['network']:.2f} | {r['engine']:.2f} | {r['encode']:.2f} | {r['total']:.2f} | {r['first']:.2f} | "
              f"{r['net_alone']:.2f} | {r['seen']:.2f} | {r['peak_mib']:.0f} | {r['x_torch']:.2f} |"
              + (f" {r['x_baseline']:.2f} |" if "x_baseline" in r else (" |" if args.baseline else "")))
    folders = []
    cores = len(os.sched_getaffinity(0))
    for spec in specs[:3:2] if args.folder else []:  # torch and int8 at the working size
        single = next(r for r in rows if r["version"] == "this" and r["row"] == spec["name"] and r["work_size"])
        # all the threads (no core to spare: one photo at a time), then one core left to the pipeline
        for threads in sorted({args.threads, max(1, args.threads - 1)}, reverse=True):
            per_photo = folder_run(spec["model"], src, args.folder, folder, threads)
            folders.append({"row": spec["name"], "photos": args.folder, "threads": threads,
                            "pipeline": threads < cores, "s_per_photo": per_photo,
                            "single_total": single["total"], "gain": single["total"] / per_photo})
    if folders:
        print(f"\n| derain remove on a folder of {args.folder} | network threads | pipeline | s per photo "
              f"| one photo's total ({args.threads} threads) | gain |\n|---|---:|---|---:|---:|---:|")
    for f in folders:
        print(f"| {f['row']} | {f['threads']} | {'yes' if f['pipeline'] else 'no'} | {f['s_per_photo']:.2f} | "
              f"{f['single_total']:.2f} | {f['gain']:.2f} |")
    pngs = png_sizes(read_picture(folder / "out.png").rgb)
    print("\n| PNG of | zlib level | MB | s | size vs level 6 |\n|---|---:|---:|---:|---:|")
    for p in pngs:
        print(f"| {p['images']} | {p['level']} | {p['bytes'] / 1e6:.2f} | {p['seconds']:.2f} | {p['bytes_vs_6']:.2f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "size": f"{w}x{h}", "threads": args.threads, "repeat": args.repeat, "busy": args.busy, "cpu": machine,
            "int8_weights": "7-bit" if int8_saturates() else "8-bit", "calibration": calibrated_on,
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "rows": rows, "folder": folders,
            "png": pngs,
        }, indent=2) + "\n")
    tmp.cleanup()


if __name__ == "__main__":
    main()
