"""`derain synth`: paired rainy/clean folders from rain-free photos, one JSON record per pair.

Everything a user can get wrong (missing folder, no images, unknown preset, bad YAML, existing
output) is checked before anything is written. The run is staged in a hidden sibling folder and
moved into place at the end, so an interruption or an error leaves no partial output; unreadable
images are skipped with a warning and counted.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from multiprocessing import get_context
from pathlib import Path

import click
from tqdm import tqdm

from derain.atomic import temp_sibling
from derain.errors import DerainError
from derain.io import list_images, read_rgb, write_rgb
from derain.synth.pairs import make_sidecar, pair_seed, render_pair
from derain.synth.preset import Preset, list_presets, load_preset
from derain.synth.streaks import StreakBank

SUBDIRS = ("rainy", "clean", "params")


def output_stems(files: list[Path], per_image: int) -> list[list[str]]:
    """Output stem of every copy of every input (`STEM` or `STEM_K`); they must not collide."""
    stems = [f.stem for f in files]
    clash = next((s for s in stems if stems.count(s) > 1), None)
    if clash is not None:
        raise DerainError(f"several inputs have the stem {clash!r}; outputs would collide (rename one)")
    return [[stem] if per_image == 1 else [f"{stem}_{k}" for k in range(per_image)] for stem in stems]


def check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DerainError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DerainError(f"{out}: directory is not empty (use --overwrite to write into it)")


def make_stage(out: Path) -> Path:
    """A hidden folder beside `out` (same file system, so publishing is a rename); removed again if
    anything, a signal included, stops its making."""
    try:
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
        stage = temp_sibling(out.absolute(), tag="partial-", folder=True)
        try:
            for sub in SUBDIRS:
                (stage / sub).mkdir()
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    except OSError as exc:
        raise DerainError(f"{out}: cannot write here ({exc.strerror or exc})") from exc
    return stage


def publish(stage: Path, out: Path) -> None:
    """Move the staged run into `out`: a rename when `out` is new, file by file otherwise."""
    if not out.exists():
        os.replace(stage, out)
        return
    for src in sorted(stage.rglob("*")):
        dst = out / src.relative_to(stage)
        if src.is_dir():
            dst.mkdir(exist_ok=True)
        else:
            os.replace(src, dst)


@functools.cache
def streak_bank(folder: str) -> StreakBank:
    """The streak layers of `folder`, decoded once per process (workers get the path, not 60 MB)."""
    return StreakBank(folder)


def render_source(src: Path, stems: list[str], preset: Preset, seed: int, stage: Path,
                  streaks: str | None = None) -> str | None:
    """Write every pair of one clean image under `stage`; the reason it was skipped, or None."""
    try:
        image = read_rgb(src)
    except DerainError as exc:
        return str(exc)
    bank = streak_bank(streaks) if streaks else None
    for k, stem in enumerate(stems):
        s = pair_seed(seed, src.name, k)
        clean, rainy, params = render_pair(image, preset, s, bank)
        if k == 0:
            write_rgb(stage / "clean" / f"{stem}.png", clean)
        else:  # the same clean image: copy the file rather than encode it again (stage is private)
            shutil.copyfile(stage / "clean" / f"{stems[0]}.png", stage / "clean" / f"{stem}.png")
        write_rgb(stage / "rainy" / f"{stem}.png", rainy)
        record = make_sidecar(params, s, source=src.name, k=k, run_seed=seed, preset=preset.name,
                              size=list(clean.shape[:2]), **({"streaks": Path(streaks).name} if streaks else {}))
        (stage / "params" / f"{stem}.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return None


def synthesize(files: list[Path], stems: list[list[str]], preset: Preset, seed: int, stage: Path, workers: int,
               streaks: str | None = None) -> tuple[int, list[str]]:
    """Render all pairs under `stage` (in `workers` processes); returns (pairs written, skipped files).

    Every pair depends only on its own seed, so the output is the same for any number of workers.
    """
    jobs = [(src, copies, preset, seed, stage, streaks) for src, copies in zip(files, stems)]
    written, skipped = 0, []
    with ExitStack() as stack:
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
        if pool:  # on an interrupt, drop the pending pairs rather than render them all before cleaning up
            stack.callback(pool.shutdown, cancel_futures=True)
        results = pool.map(render_source, *zip(*jobs)) if pool else itertools.starmap(render_source, jobs)
        bar = stack.enter_context(tqdm(total=sum(map(len, stems)), unit="pair", disable=len(files) < 2,
                                       file=sys.stderr))
        for (src, copies, *_), problem in zip(jobs, results):
            if problem:
                skipped.append(src.name)
                tqdm.write(f"derain: warning: skipped {problem}", file=sys.stderr)
            else:
                written += len(copies)
            bar.update(len(copies))
    return written, skipped


@click.command()
@click.option("--clean", "clean_dir", required=True, type=click.Path(path_type=Path),
              help="Folder of rain-free images.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Output folder: rainy/, clean/ (same names), params/ (one JSON per pair), synth.json.")
@click.option("--preset", default="medium", show_default=True,
              help=f"Shipped preset ({', '.join(list_presets())}) or path to a preset YAML file.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Run seed; each pair's seed derives from it.")
@click.option("--per-image", default=1, show_default=True, type=click.IntRange(min=1),
              help="Rainy versions per clean image (named STEM_K.png when above 1).")
@click.option("--limit", type=click.IntRange(min=1), help="Use only the first N images (sorted by name).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes rendering in parallel; the output does not depend on it.")
@click.option("--streaks", "streaks_dir", type=click.Path(path_type=Path),
              help="Folder of rendered streak layers (e.g. the Garg-Nayar set streaks/garg06): the rain is recombined "
                   "from them, lit, veiled and photographed as the preset says.")
@click.option("--overwrite", is_flag=True,
              help="Write into a non-empty output folder, replacing files of the same name.")
def synth(clean_dir: Path, out_dir: Path, preset: str, seed: int, per_image: int, limit: int | None, workers: int,
          streaks_dir: Path | None, overwrite: bool) -> None:
    """Render synthetic rain on the images in --clean; every pair can be regenerated from its JSON."""
    loaded = load_preset(preset)
    streaks = str(streaks_dir.absolute()) if streaks_dir else None
    if streaks:
        streak_bank(streaks)  # a folder without streak layers is a usage error, found before any work
    files = list_images(clean_dir)[:limit]
    if not files:
        raise DerainError(f"{clean_dir}: directory contains no images")
    stems = output_stems(files, per_image)
    check_out_dir(out_dir, overwrite)
    start = time.perf_counter()
    stage = make_stage(out_dir)
    try:  # at once: an interruption between here and make_stage would leave the stage behind
        written, skipped = synthesize(files, stems, loaded, seed, stage, workers, streaks)
        if not written:
            raise DerainError(f"{clean_dir}: none of the {len(files)} images could be read")
        manifest = {"preset": loaded.name, "preset_spec": loaded.source, "streaks": streaks, "seed": seed,
                    "per_image": per_image, "clean_dir": str(clean_dir.absolute()), "pairs": written,
                    "skipped": skipped}
        (stage / "synth.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        publish(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    elapsed = time.perf_counter() - start
    note = f", skipped {len(skipped)} unreadable image(s)" if skipped else ""
    noun = "pair" if written == 1 else "pairs"
    click.echo(f"wrote {written} {noun} to {out_dir} in {elapsed:.1f} s ({written / elapsed:.1f} pairs/s){note}",
               err=True)
