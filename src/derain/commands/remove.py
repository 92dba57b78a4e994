"""`derain remove`: derain files, folders and globs with a shipped or trained model.

Every input is checked and every output name decided before the model is loaded, so a typo costs
nothing. One bad image never stops the batch: it is reported on one line, the others are
processed, and the exit code says that something failed. Several files run as a pipeline, the
next one decoded and the previous one encoded while the network runs (`derain_files`). Videos
(extra derain[video]) go through `derain.video` frame by frame; without PyAV a video input is a
usage error (exit 2) before any work.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from tqdm import tqdm

from derain.atomic import exists_error
from derain.cli import FiniteFloatRange, encoding_options, flips_option, vapour_option
from derain.errors import DerainError
from derain.io import IMAGE_EXTENSIONS, Encoding, Picture, list_images, read_picture, write_picture
from derain.paths import DEFAULT_MODEL, WORK_SIZE
from derain.video import DEFAULT_THRESHOLD, VIDEO_EXTENSIONS, X264_PRESETS, VideoSettings, derain_video, is_video_name

if TYPE_CHECKING:
    from derain.inference import Derainer


def expand_inputs(inputs: tuple[str, ...], skip_suffix: str = "",
                  extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> tuple[list[Path], list[str]]:
    """Resolve files, folders and glob patterns to files with `extensions` (images unless told;
    order kept, duplicates dropped).

    Returns the files and one error line per input that yields nothing (or is not an image file),
    so the rest of the batch can still run. Inside folders and globs, files whose name ends with
    `skip_suffix` are earlier outputs of this command and are not derained again. Files keep the
    path they were given by (a symlink is not resolved), so outputs go beside the link, named
    after it; duplicates are found on the resolved path.
    """
    found: list[Path] = []
    errors: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            images = [p for p in list_images(path, extensions) if not (skip_suffix and p.stem.endswith(skip_suffix))]
            if not images:
                errors.append(f"{path}: directory contains no images ({', '.join(extensions)})")
            found += images
        elif path.exists() and path.suffix.lower() in extensions:
            found.append(path)
        elif path.exists():
            errors.append(f"{path}: not a supported image file ({', '.join(extensions)}); skipped")
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item) if Path(p).suffix.lower() in extensions)
            matches = [p for p in matches if not (skip_suffix and p.stem.endswith(skip_suffix))]
            if not matches:
                errors.append(f"{item}: pattern matches no images")
            found += matches
        else:
            errors.append(f"{path}: no such file or directory")
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values()), errors


def check_suffix(suffix: str) -> None:
    """Refuse a `--suffix` that is a path: it would write outside the input's folder."""
    if any(sep in suffix for sep in (os.sep, os.altsep) if sep):
        raise DerainError(f"--suffix must not contain a path separator, got {suffix!r}")


def plan_outputs(files: list[Path], out_dir: Path | None, suffix: str) -> list[Path]:
    """Output path per input: beside it with `suffix`, or inside `out_dir` under the same name."""
    outputs = [(out_dir / f.name) if out_dir else f.with_name(f"{f.stem}{suffix}{f.suffix}") for f in files]
    clashes = {o for o in outputs if outputs.count(o) > 1}
    if clashes:
        raise DerainError(f"several inputs would be written to {sorted(clashes)[0]}; use separate runs or no -o")
    for src, dst in zip(files, outputs):
        if dst.resolve() == src.resolve():
            raise DerainError(f"{dst}: output would replace its input; choose another -o or --suffix")
    return outputs


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write results into this folder (same file names). Default: beside each input, with --suffix.")
@click.option("--suffix", default="_derained", show_default=True,
              help="Appended to the file name when writing beside the input.")
@click.option("-m", "--model", "model_name", default=DEFAULT_MODEL, show_default=True,
              help="Shipped model name, peer name (e.g. prenet_rain100l), or a .safetensors or .onnx file; "
                   "`derain models` says which suits which rain.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--tile", default="auto", show_default=True,
              help="Tile size in pixels, 0 for none, or auto (tiles images above 1 MP so 12 MP stays under 2 GiB).")
@click.option("--overlap", default=96, show_default=True, type=click.IntRange(min=0),
              help="Tile overlap, blended linearly.")
@click.option("--work-size", default=WORK_SIZE, show_default=True, type=click.IntRange(min=0),
              help="Derain a photo whose shorter side is larger at this size and apply the rain removed there "
                   "at full resolution (rain is learnt at the scale of small photos); 0: full resolution.")
@vapour_option()
@flips_option()
@click.option("--bf16", is_flag=True,
              help="bfloat16 autocast: faster only on hardware with native bf16 (e.g. AVX-512 BF16, AMX, GPUs); "
                   "~1e-3 difference.")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True,
              help="Run the network on PyTorch or on onnxruntime (extra derain[onnx]; CPU); auto: torch, "
                   "onnxruntime for an .onnx model.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files (never inputs).")
@encoding_options
@click.option("--video-codec", default="auto", show_default=True,
              help="Video encoder: libx264, libx265, libvpx-vp9; auto is libvpx-vp9 for .webm, libx264 otherwise.")
@click.option("--crf", type=click.IntRange(0, 63),
              help="Video quality, lower is better (default: 18 x264, 20 x265, 31 vp9).")
@click.option("--preset", type=click.Choice(X264_PRESETS), default="medium", show_default=True,
              help="x264/x265 speed preset (slower: smaller files at the same quality).")
@click.option("--temporal", default=1, show_default=True, type=click.IntRange(min=1),
              help="Video: average still parts over about K frames to remove flicker from leftover rain; 1 is off, "
                   "2 suits a moving camera, 4 a still one.")
@click.option("--temporal-threshold", default=DEFAULT_THRESHOLD, show_default=True,
              type=FiniteFloatRange(min=0, min_open=True),
              help="Video: change (8-bit levels) above which a pixel counts as moving and is not averaged.")
def remove(inputs: tuple[str, ...], out_dir: Path | None, suffix: str, model_name: str, device: str, tile: str,
           overlap: int, work_size: int, vapour: float | None, flips: int | None, bf16: bool, backend: str,
           overwrite: bool, encoding: Encoding, video_codec: str, crf: int | None, preset: str, temporal: int,
           temporal_threshold: float) -> None:
    """Remove rain from INPUTS: image or video files, folders of them, or glob patterns."""
    from derain.inference import load_model, parse_tile  # torch import only when work is certain

    check_suffix(suffix)
    tile_size = parse_tile(tile)
    files, errors = expand_inputs(inputs, skip_suffix="" if out_dir else suffix,
                                  extensions=IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
    for line in errors:
        click.echo(f"derain: error: {line}", err=True)
    if not files:
        raise DerainError("no input images to process")
    video = VideoSettings(video_codec, crf, preset, temporal, temporal_threshold)
    if any(map(is_video_name, files)):
        video.check()  # PyAV installed, encoder present: a usage error, before the model loads
    outputs = plan_outputs(files, out_dir, suffix)
    derainer = load_model(model_name, device=device, tile=tile_size, overlap=overlap, bf16=bf16, backend=backend,
                          work_size=work_size, vapour=vapour, flips=flips)
    start = time.perf_counter()

    def finished(src: Path, dst: Path, note: str) -> None:
        click.echo(f"{src} -> {dst} ({note}{time.perf_counter() - start:.2f} s)", err=True)

    jobs = list(zip(files, outputs))
    failed = len(errors) + derain_files(jobs, derainer, overwrite, encoding, video, finished)
    if len(files) > 1:
        done = len(files) - failed + len(errors)
        kind = "files" if any(map(is_video_name, files)) else "images"
        click.echo(f"derained {done} of {len(files)} {kind} in {time.perf_counter() - start:.1f} s", err=True)
    if failed:
        sys.exit(1)


class _Now:
    """The executor of a single photo: each job runs at once, in this thread (there is nothing to
    overlap, and an interruption then stops the write itself, so no output appears)."""

    def submit(self, job: Callable[..., Any], *args: Any) -> Future[Any]:
        try:
            return _settled(job(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller as a thread's would be
            return _settled(error=exc)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Nothing runs behind."""


class _Threads:
    """The network's threads per photo of a folder, whose decoding and encoding run beside it on
    one more thread (the pipeline). A photo over the working size is derained small, so the network
    is a small part of its time (0.3 of 2.7 s for a 12-MP PNG): it gets a core fewer and the
    pipeline that core. On 2 cores a folder of such photos ran 1.25-1.29x as fast with one network
    thread as with two, where the pipeline only takes turns with the network (0.97-1.01x;
    benchmarks/bench_e2e.py, docs/benchmarks/e2e.json). A smaller photo runs at full resolution,
    where the network dominates, so it keeps every core (24 Kodak photos on one core: 8.1 s
    against 5.5 on two). A thread count set by OMP_NUM_THREADS is kept for every photo."""

    def __init__(self, derainer: Derainer) -> None:
        import torch

        self.set, self.all, self.derainer = torch.set_num_threads, torch.get_num_threads(), derainer
        self.spare = derainer.work_size > 0 and self.all > 1 and "OMP_NUM_THREADS" not in os.environ

    def fit(self, shape: tuple[int, ...]) -> None:
        """Set the threads for a photo of this (H, W, ...) shape."""
        if self.spare:
            self.set(self.all - 1 if self.derainer.works_small(*shape[:2]) else self.all)


def _settled(result: Any = None, error: Exception | None = None) -> Future[Any]:
    done: Future[Any] = Future()
    if error is None:
        done.set_result(result)
    else:
        done.set_exception(error)
    return done


def derain_files(jobs: list[tuple[Path, Path]], derainer: Derainer, overwrite: bool, encoding: Encoding,
                 video: VideoSettings, done: Callable[[Path, Path, str], None]) -> int:
    """Derain each (input, output) and return how many failed, each reported on one line in the
    inputs' order; `done(src, dst, note)` is told of a single file's success.

    Several files are a pipeline: one thread decodes the next photo and encodes the previous one
    while the network runs on this one (one job queued each way, so at most three photos are in
    memory), on a core of its own for photos over the working size (`_Threads`). Outputs, messages
    and atomic writes are those of one file at a time; on Ctrl-C or SIGTERM the write under way is
    finished (never left partial) and nothing else starts.
    """
    io = ThreadPoolExecutor(1, thread_name_prefix="derain-io") if len(jobs) > 1 else _Now()
    threads = _Threads(derainer) if len(jobs) > 1 else None
    failed = 0

    def read(src: Path, dst: Path) -> Picture | None:
        if dst.exists() and not overwrite:
            raise exists_error(dst)
        return None if is_video_name(src) else read_picture(src)

    def write(dst: Path, pic: Picture) -> str:
        write_picture(dst, pic, overwrite=overwrite, encoding=encoding)
        return ""

    def derain(src: Path, dst: Path, decoded: Future[Picture | None]) -> Future[str]:
        """This file's work here; a photo's write goes behind (the note for the summary, when done)."""
        pic = decoded.result()
        if threads is not None and pic is not None:
            threads.fit(pic.rgb.shape)
        if pic is None:
            return _settled(derain_one_video(src, dst, derainer, video, overwrite))
        try:
            pic.rgb = derainer.remove(pic.rgb)
        except DerainError as exc:  # the engine does not know the file's name
            raise DerainError(f"{src}: {exc}") from exc
        return io.submit(write, dst, pic)

    def report(src: Path, outcome: Future[str]) -> None:
        nonlocal failed
        try:
            note = outcome.result()
        except DerainError as exc:
            failed += 1
            tqdm.write(f"derain: error: {exc}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - one image (e.g. out of memory) must not stop the batch
            failed += 1
            tqdm.write(f"derain: error: {src}: {type(exc).__name__}: {exc}", file=sys.stderr)
        else:
            if len(jobs) == 1:
                done(src, jobs[0][1], note)

    reads = deque([io.submit(read, *jobs[0])])
    writing: tuple[Path, Future[str]] | None = None
    try:
        for i, (src, dst) in enumerate(tqdm(jobs, unit="img", disable=len(jobs) < 2, file=sys.stderr)):
            if i + 1 < len(jobs):
                reads.append(io.submit(read, *jobs[i + 1]))
            try:
                outcome = derain(src, dst, reads.popleft())
            except Exception as exc:  # noqa: BLE001 - reported in order below
                outcome = _settled(error=exc)
            if writing is not None:  # the previous photo's write first: lines keep the inputs' order
                report(*writing)
                writing = None
            if outcome.done():
                report(src, outcome)
            else:
                writing = (src, outcome)
        if writing is not None:
            report(*writing)
    finally:
        io.shutdown(wait=True, cancel_futures=True)
    return failed


def derain_one_video(src: Path, dst: Path, derainer: Derainer, settings: VideoSettings, overwrite: bool) -> str:
    """Derain one video with a progress bar in frames (tqdm shows the rate); a note for the summary."""
    start = time.perf_counter()
    with tqdm(unit="frame", desc=src.name, leave=False, file=sys.stderr) as bar:
        def progress(done: int, announced: int | None) -> None:
            bar.total = announced
            bar.update(done - bar.n)

        frames = derain_video(src, dst, derainer.remove, settings, overwrite=overwrite, progress=progress)
    return f"{frames} frames, {frames / (time.perf_counter() - start):.1f} frames/s, "
