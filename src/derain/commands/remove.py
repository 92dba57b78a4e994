"""`derain remove`: derain files, folders and globs with a shipped or trained model.

Every input is checked and every output name decided before the model is loaded, so a typo costs
nothing. One bad image never stops the batch: it is reported on one line, the others are
processed, and the exit code says that something failed.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from pathlib import Path

import click
from tqdm import tqdm

from derain.atomic import exists_error
from derain.errors import DerainError
from derain.io import IMAGE_EXTENSIONS, is_image_name, list_images, read_picture, write_picture


def expand_inputs(inputs: tuple[str, ...], skip_suffix: str = "") -> tuple[list[Path], list[str]]:
    """Resolve files, folders and glob patterns to image files (order kept, duplicates dropped).

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
            images = [p for p in list_images(path) if not (skip_suffix and p.stem.endswith(skip_suffix))]
            if not images:
                errors.append(f"{path}: directory contains no images ({', '.join(IMAGE_EXTENSIONS)})")
            found += images
        elif path.exists() and is_image_name(path):
            found.append(path)
        elif path.exists():
            errors.append(f"{path}: not a supported image file ({', '.join(IMAGE_EXTENSIONS)}); skipped")
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item) if is_image_name(Path(p)))
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
@click.option("--suffix", default="_derained", show_default=True, help="Appended to the file name when writing beside the input.")
@click.option("-m", "--model", "model_name", default="derain_student", show_default=True,
              help="Shipped model name, peer name (e.g. prenet_rain100l) or path to a .safetensors file.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--tile", default="auto", show_default=True,
              help="Tile size in pixels, 0 for none, or auto (tiles images above 1 MP so 12 MP stays under 2 GiB).")
@click.option("--overlap", default=96, show_default=True, type=click.IntRange(min=0), help="Tile overlap, blended linearly.")
@click.option("--bf16", is_flag=True, help="bfloat16 autocast: faster only on hardware with native bf16 (e.g. AVX-512 BF16, AMX, GPUs); ~1e-3 difference.")
@click.option("--backend", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True,
              help="Run the network on PyTorch or on onnxruntime (extra derain[onnx]; CPU).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files (never inputs).")
def remove(inputs: tuple[str, ...], out_dir: Path | None, suffix: str, model_name: str, device: str, tile: str,
           overlap: int, bf16: bool, backend: str, overwrite: bool) -> None:
    """Remove rain from INPUTS: image files, folders of images, or glob patterns."""
    from derain.inference import load_model, parse_tile  # torch import only when work is certain

    check_suffix(suffix)
    tile_size = parse_tile(tile)
    files, errors = expand_inputs(inputs, skip_suffix="" if out_dir else suffix)
    for line in errors:
        click.echo(f"derain: error: {line}", err=True)
    if not files:
        raise DerainError("no input images to process")
    outputs = plan_outputs(files, out_dir, suffix)
    derainer = load_model(model_name, device=device, tile=tile_size, overlap=overlap, bf16=bf16, backend=backend)
    failed = len(errors)
    start = time.perf_counter()
    bar = tqdm(list(zip(files, outputs)), unit="img", disable=len(files) < 2, file=sys.stderr)
    for src, dst in bar:
        try:
            if dst.exists() and not overwrite:
                raise exists_error(dst)
            pic = read_picture(src)
            try:
                pic.rgb = derainer.remove(pic.rgb)
            except DerainError as exc:  # the engine does not know the file's name
                raise DerainError(f"{src}: {exc}") from exc
            write_picture(dst, pic, overwrite=overwrite)
        except DerainError as exc:
            failed += 1
            tqdm.write(f"derain: error: {exc}", file=sys.stderr)
            continue
        except Exception as exc:  # noqa: BLE001 - one image (e.g. out of memory) must not stop the batch
            failed += 1
            tqdm.write(f"derain: error: {src}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        if len(files) == 1:
            click.echo(f"{src} -> {dst} ({time.perf_counter() - start:.2f} s)", err=True)
    if len(files) > 1:
        done = len(files) - failed + len(errors)
        click.echo(f"derained {done} of {len(files)} images in {time.perf_counter() - start:.1f} s", err=True)
    if failed:
        sys.exit(1)
