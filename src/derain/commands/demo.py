"""`derain demo`: the first run on a machine that has only the package.

A rain-free photo that a dependency already ships (matplotlib's `grace_hopper.jpg`, the official
1984 US Navy portrait of Grace Hopper, a work of the US federal government and so in the public
domain) gets rain from the `derain synth` engine, is derained by the shipped model and is scored
against itself, so the gain is measured without any dataset and nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from derain.atomic import exists_error
from derain.errors import DerainError
from derain.io import Picture, read_rgb, write_picture
from derain.paths import DEFAULT_MODEL
from derain.synth.preset import list_presets

SAMPLE = "grace_hopper.jpg"
OUTPUTS = ("rainy.png", "derained.png", "side_by_side.png")


def sample_path() -> Path:
    """matplotlib's bundled sample photo (inside its wheel, never fetched)."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data(SAMPLE, asfileobj=False))


def plan(out_dir: Path, overwrite: bool) -> list[Path]:
    """The output paths, refused before any work if one exists (as `derain remove` does)."""
    outputs = [out_dir / name for name in OUTPUTS]
    for path in outputs:
        if path.exists() and not overwrite:
            raise exists_error(path)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DerainError(f"{out_dir}: cannot write ({exc.strerror or exc})") from exc
    return outputs


@click.command()
@click.option("-o", "--output", "out_dir", default="derain_demo", show_default=True,
              type=click.Path(path_type=Path), help="Folder for rainy.png, derained.png and side_by_side.png.")
@click.option("-m", "--model", "model_name", default=DEFAULT_MODEL, show_default=True,
              help="Shipped model name, peer name or path to a .safetensors file.")
@click.option("--preset", default="light", show_default=True,
              help=f"Rain preset ({', '.join(list_presets())}) or YAML path. The others add a veil, which the "
                   "default model keeps (it removes streaks), so against the veil-free photo they score lower.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the rain.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def demo(out_dir: Path, model_name: str, preset: str, seed: int, overwrite: bool) -> None:
    """Render rain on a bundled photo, derain it and print the Y-PSNR gained."""
    from derain.inference import load_model
    from derain.metrics import psnr
    from derain.synth.pairs import pair_seed, render_pair
    from derain.synth.preset import load_preset

    rain = load_preset(preset)
    outputs = plan(out_dir, overwrite)
    derainer = load_model(model_name)
    clean, rainy, _ = render_pair(read_rgb(sample_path()), rain, pair_seed(seed, SAMPLE))
    derained = derainer.remove(rainy)
    side = np.concatenate([rainy, derained, clean], axis=1)  # the layout of `derain eval --save-images`
    for path, image in zip(outputs, (rainy, derained, side)):
        write_picture(path, Picture(image), overwrite=overwrite)
    before, after = psnr(rainy, clean), psnr(derained, clean)
    click.echo(f"rainy input:  {outputs[0]}\nderained:     {outputs[1]}\n"
               f"side by side: {outputs[2]} (rainy | derained | rain-free)")
    click.echo(f"Y-PSNR against the rain-free photo: {before:.2f} dB -> {after:.2f} dB ({after - before:+.2f} dB) "
               f"[{rain.name} rain, seed {seed}, model {model_name}]")
