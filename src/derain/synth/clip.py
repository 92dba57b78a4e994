"""`derain synth-video`: a short rainy clip and its rain-free twin, rendered from one photo.

Test and benchmark clips are made, not shipped. The camera pans and zooms across the photo (or
stands still, to measure flicker); the rain is temporally coherent: every streak layer is
rendered once, by `synth.render`, on a canvas taller than the frame, and each frame sees it
shifted down (and sideways along the streaks' slant) by that layer's fall per frame, so streaks
move between frames instead of being redrawn at random. Near layers (longer streaks) fall faster:
the shift per frame is `--fall` times the layer's streak length. Lighting and veil come from the
preset (`render.composite`), sensor noise is drawn anew for every frame; the per-photo JPEG step
is left out, the video encoder being the camera's compression here. The two clips and clip.json
are published together (`atomic.atomic_write_set`): a full disk leaves none of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
from PIL import Image

from derain.atomic import atomic_write_set, check_writable, exists_error
from derain.cli import FiniteFloatRange
from derain.errors import DerainError
from derain.io import MAX_PIXELS, read_rgb
from derain.synth.pairs import pair_rngs, make_sidecar, pair_seed
from derain.synth.params import RainParams
from derain.synth.preset import list_presets, load_preset, sample_params
from derain.synth.render import composite, render_layer
from derain.video import VIDEO_EXTENSIONS, encode_video, require_av, to_uint8

MOTIONS = ("pan", "static")
ZOOM = 0.9  # a panning camera ends zoomed in to this share of its first view
PAN = 0.3  # ...having drifted over this share of the room the photo leaves around the view


def camera_boxes(height: int, width: int, size: tuple[int, int], frames: int, motion: str) -> list[tuple[float, ...]]:
    """Crop box (left, top, right, bottom) in the photo for every frame, with the frame's aspect ratio.

    The first view covers 80 % of the photo; a pan drifts diagonally across the middle of the
    photo while zooming in to `ZOOM`; a static camera keeps the centred first view.
    """
    aspect = size[0] / size[1]
    bw = 0.8 * min(width, height * aspect)
    bh = bw / aspect
    boxes = []
    for i in range(frames):
        t = i / (frames - 1) if motion == "pan" else 0.5
        w, h = bw * (1.0 - (1.0 - ZOOM) * t), bh * (1.0 - (1.0 - ZOOM) * t)
        place = 0.5 + PAN * (t - 0.5)
        left, top = place * (width - w), place * (height - h)
        boxes.append((left, top, left + w, top + h))
    return boxes


def falling_rain(params: RainParams, size: tuple[int, int], frames: int, fall: float,
                 rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Rain layer (H, W) in [0, 1] of every frame: each streak layer rendered once, then slid down."""
    w, h = size
    moves, canvases = [], []
    for layer in params.layers:
        dy = fall * layer.length
        dx = dy * math.tan(math.radians(layer.angle))  # along the streaks: positive angle falls to the right
        shape = (h + math.ceil((frames - 1) * dy), w + math.ceil((frames - 1) * abs(dx)))
        moves.append((dy, dx))
        canvases.append(render_layer(layer, shape, rng))
    for i in range(frames):
        keep = np.ones((h, w), np.float32)
        for (dy, dx), canvas in zip(moves, canvases):
            top = round((frames - 1 - i) * dy)  # the window climbs the canvas, so streaks move down the frame
            left = round((frames - 1 - i) * dx if dx > 0 else -i * dx)
            keep *= 1.0 - canvas[top:top + h, left:left + w]
        yield 1.0 - keep


def render_clip(image: np.ndarray, params: RainParams, size: tuple[int, int], frames: int, motion: str, fall: float,
                rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(clean, rainy) 8-bit RGB frames of the clip, one pair at a time."""
    photo = Image.fromarray(to_uint8(image))
    boxes = camera_boxes(image.shape[0], image.shape[1], size, frames, motion)
    for box, rain in zip(boxes, falling_rain(params, size, frames, fall, rng)):
        clean = np.asarray(photo.resize(size, Image.Resampling.BICUBIC, box=box), np.float32) / 255.0
        rainy = composite(clean.transpose(2, 0, 1), rain, params)
        if params.noise_sigma > 0:
            rainy = rainy + params.noise_sigma * rng.standard_normal(rainy.shape, dtype=np.float32)
        yield to_uint8(clean), to_uint8(rainy.transpose(1, 2, 0))


def parse_size(text: str) -> tuple[int, int]:
    """`WxH` to (width, height); both even, as 4:2:0 video needs, and no more pixels than an image
    may have (frames are held in memory: a huge size would end in MemoryError after the work began)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        w = h = 0
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise DerainError(f"--size must be WxH with even sides of at least 16 pixels, got {text!r}")
    if w * h > MAX_PIXELS:
        raise DerainError(f"--size {text}: {w * h:,} pixels a frame, over the limit of {MAX_PIXELS:,}")
    return w, h


def write_clip(out_dir: Path, photo: Path, size: tuple[int, int], frames: int, fps: int, motion: str = "pan",
               fall: float = 1.0, preset: str = "medium", seed: int = 0, ext: str = "mp4", audio: bool = False,
               overwrite: bool = False) -> tuple[Path, Path]:
    """Render `photo` into OUT_DIR/rainy.EXT, OUT_DIR/clean.EXT and clip.json (published together,
    replacing earlier ones only if `overwrite`); the two clips' paths.

    The frames are held in memory until both clips are written: these are short test clips.
    """
    require_av()
    image = read_rgb(photo)
    loaded = load_preset(preset)
    rainy_path, clean_path, record_path = out_dir / f"rainy.{ext}", out_dir / f"clean.{ext}", out_dir / "clip.json"
    for target in (rainy_path, clean_path, record_path):
        if target.exists() and not overwrite:
            raise exists_error(target)
    check_writable(out_dir)
    s = pair_seed(seed, photo.name)
    params_rng, noise_rng = pair_rngs(s)
    params = sample_params(loaded, params_rng)
    pairs = list(render_clip(image, params, size, frames, motion, fall, noise_rng))
    tone = 440.0 if audio else 0.0
    record = make_sidecar(params, s, source=photo.name, preset=loaded.name, run_seed=seed, frames=frames, fps=fps,
                          size=list(size), motion=motion, fall=fall, audio=audio)  # WxH, as --size takes it
    atomic_write_set({rainy_path: lambda tmp: encode_video(tmp, rainy_path, (r for _, r in pairs), fps, tone=tone),
                      clean_path: lambda tmp: encode_video(tmp, clean_path, (c for c, _ in pairs), fps, tone=tone),
                      record_path: lambda tmp: tmp.write_text(json.dumps(record, indent=1) + "\n")},
                     overwrite=overwrite)
    return rainy_path, clean_path


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--clean", "clean_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A rain-free photo, larger than the frames (the camera moves across it).")
@click.option("--frames", default=24, show_default=True, type=click.IntRange(min=2), help="Number of frames.")
@click.option("--fps", default=24, show_default=True, type=click.IntRange(min=1), help="Frames per second.")
@click.option("--size", default="640x360", show_default=True, help="Frame size WxH (even sides).")
@click.option("--motion", type=click.Choice(MOTIONS), default="pan", show_default=True,
              help="pan: the camera drifts and zooms in; static: it stands still (for flicker measurements).")
@click.option("--fall", default=1.0, show_default=True, type=FiniteFloatRange(min=0.0),
              help="How far streaks fall between frames, in streak lengths (0: frozen rain).")
@click.option("--preset", default="medium", show_default=True,
              help=f"Shipped preset ({', '.join(list_presets())}) or path to a preset YAML file.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the rain.")
@click.option("--format", "ext", type=click.Choice([e[1:] for e in VIDEO_EXTENSIONS]), default="mp4", show_default=True,
              help="Container of both clips (H.264, or VP9 for webm).")
@click.option("--audio", is_flag=True, help="Add a 440 Hz tone as a sound track (to check that derain copies audio).")
@click.option("--overwrite", is_flag=True, help="Replace existing clips (and their clip.json).")
def synth_video(out_dir: Path, clean_path: Path, frames: int, fps: int, size: str, motion: str, fall: float,
                preset: str, seed: int, ext: str, audio: bool, overwrite: bool) -> None:
    """Render OUT_DIR/rainy.EXT and OUT_DIR/clean.EXT (same frames, without rain) and clip.json."""
    dims = parse_size(size)
    rainy, clean = write_clip(out_dir, clean_path, dims, frames, fps, motion, fall, preset, seed, ext, audio, overwrite)
    click.echo(f"wrote {rainy} and {clean} ({frames} frames, {dims[0]}x{dims[1]}, {fps} fps)", err=True)
