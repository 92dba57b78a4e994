"""Video: flicker with and without the temporal filter, and frames per second of both backends.

    python benchmarks/bench_video.py                 # both parts, a few minutes on 2 cores
    python benchmarks/bench_video.py --no-fps        # flicker only
    python benchmarks/bench_video.py --no-fps --thresholds 16,32 --json /tmp/v.json  # compare thresholds

Clips are rendered here with the `derain synth-video` engine from the photo `derain demo` uses
(matplotlib's grace_hopper.jpg), so nothing is downloaded.

Flicker (320x180, 24 frames, medium rain, `--model`: the default model unless given): the mean
absolute difference between consecutive frames in 8-bit levels, on a still camera (where the
clean clip's flicker is the codec's alone, and everything above it is rain the model left) and on
a panning one (where the clean clip's value is the motion itself); PSNR against the clean frames
shows smearing, which a filter that averaged motion would pay for. The rainy clip is decoded from
its encoded file; the derained frames are measured before re-encoding.

Speed: `derain_video` end to end (decode, derain, encode with the default libx264 CRF 18, medium)
on 640x360 and 1280x720 clips, per backend; the ratio is to torch in the same run. The model is
loaded (and for onnx exported) before the clock starts, and one frame warms the backend up.
Writes docs/benchmarks/video.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch

from derain.inference import load_model
from derain.metrics import psnr
from derain.paths import DEFAULT_MODEL
from derain.synth.clip import write_clip
from derain.video import DEFAULT_THRESHOLD, TemporalFilter, derain_video, flicker, read_frames, to_uint8

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def filters(thresholds: list[float]) -> list[tuple[int, float]]:
    """(K, threshold) rows: no filter, K = 2, 4, 8 at each threshold, and K=4 as plain averaging
    (no motion check, threshold 255) to show what the check saves."""
    return [(1, DEFAULT_THRESHOLD), *((k, t) for t in thresholds for k in (2, 4, 8)), (4, 255.0)]


def make_clip(folder: Path, size: tuple[int, int], frames: int, motion: str) -> tuple[Path, Path]:
    """(rainy, clean) clips of medium rain on PHOTO, as `derain synth-video` writes them."""
    return write_clip(folder / f"{motion}-{size[0]}", PHOTO, size, frames, 24, motion)


def score(motion: str, name: str, frames: list[np.ndarray], clean: list[np.ndarray]) -> dict:
    """Flicker of `frames`, and their mean Y-PSNR against the rain-free frames (None for those)."""
    value = float(np.mean([psnr(f, c) for f, c in zip(frames, clean)])) if frames is not clean else None
    return {"motion": motion, "clip": name, "flicker": flicker(frames), "psnr": value}


def flicker_rows(folder: Path, model: str, thresholds: list[float]) -> list[dict]:
    derainer = load_model(model)
    rows = []
    for motion in ("static", "pan"):
        rainy_path, clean_path = make_clip(folder, (320, 180), 24, motion)
        rainy, clean = list(read_frames(rainy_path)), list(read_frames(clean_path))
        derained = [derainer.remove(f.astype(np.float32) / 255.0) for f in rainy]
        first = len(rows)
        rows += [score(motion, "clean", clean, clean), score(motion, "rainy", rainy, clean)]
        for k, threshold in filters(thresholds):
            smooth = TemporalFilter(k, threshold)
            out = [to_uint8(smooth(f)) for f in derained]
            label = f"derained K={k}" + (f", threshold {threshold:g}" if threshold != DEFAULT_THRESHOLD else "")
            rows.append(score(motion, label, out, clean))
        for r in rows[first:]:
            quality = f"  PSNR {r['psnr']:6.2f} dB" if r["psnr"] is not None else ""
            print(f"{motion:6s} {r['clip']:32s} flicker {r['flicker']:6.2f}{quality}", flush=True)
    return rows


def fps_rows(folder: Path, frames: int, model: str) -> list[dict]:
    rows = []
    for w, h in ((640, 360), (1280, 720)):
        rainy, _ = make_clip(folder, (w, h), frames, "pan")
        base = None
        for backend in ("torch", "onnx"):
            derainer = load_model(model, backend=backend)
            derainer.remove(np.zeros((h, w, 3), np.float32))  # warm-up
            start = time.perf_counter()
            n = derain_video(rainy, folder / f"out-{backend}-{w}.mp4", derainer.remove, overwrite=True)
            fps = n / (time.perf_counter() - start)
            base = base or fps
            rows.append({"size": f"{w}x{h}", "backend": backend, "frames": n, "fps": fps, "vs_torch": fps / base})
            print(f"{w}x{h} {backend:5s} {fps:6.2f} frames/s  {fps / base:5.2f}x torch", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL, help="model name or .safetensors file")
    parser.add_argument("--thresholds", default=str(DEFAULT_THRESHOLD),
                        help="comma-separated --temporal-threshold values to compare (levels)")
    parser.add_argument("--no-fps", action="store_true", help="skip the speed part")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip in the speed part")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks/video.json"))
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        result = {"model": args.model, "threads": args.threads,
                  "flicker": flicker_rows(Path(tmp), args.model, thresholds)}
        if not args.no_fps:
            result["fps"] = fps_rows(Path(tmp), args.frames, args.model)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
