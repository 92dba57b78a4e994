"""`derain batch`: `derain remove -o` on a Ray cluster, for when one machine is not enough.

Inputs, model and output folder are all checked before Ray starts, so a typo costs nothing. The
same command runs on a local Ray instance (no `--address`) or joins a cluster, so scaling out
changes a flag, not the code. The work itself is in `derain.batch`. Ctrl-C and SIGTERM stop it as
they stop `derain remove` (130 and 143, one line); the temporary files of the actors it stops
mid-write are removed, and so are those a run killed outright left, by the next run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from tqdm import tqdm

from derain.atomic import check_writable, remove_temporaries
from derain.cli import encoding_options, flips_option, vapour_option
from derain.errors import DerainError
from derain.io import Encoding
from derain.paths import DEFAULT_MODEL

if TYPE_CHECKING:
    from derain.batch import Job
    from derain.inference import Derainer

INSTALL_HINT = "derain batch needs Ray: pip install 'derain[ray]'"


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the results (same file names); on a cluster, one every node can write to.")
@click.option("-m", "--model", "model_name", default=DEFAULT_MODEL, show_default=True,
              help="Shipped model name, peer name (e.g. prenet_rain100l) or path to a .safetensors file; "
                   "`derain models` says which suits which rain.")
@click.option("--address",
              help="Ray cluster to join: auto, ray://HOST:PORT or HOST:PORT. Default: a local Ray instance.")
@click.option("--actors", type=click.IntRange(min=1),
              help="Model actors (default: one per CPU of the cluster, one torch thread each).")
@click.option("--tile", default="auto", show_default=True,
              help="Tile size in pixels, 0 for none, or auto (tiles images above 1 MP).")
@click.option("--overlap", default=96, show_default=True, type=click.IntRange(min=0),
              help="Tile overlap, blended linearly.")
@vapour_option()
@flips_option()
@click.option("--overwrite", is_flag=True,
              help="Redo and replace existing outputs (default: skip them, so a re-run resumes).")
@encoding_options
def batch(inputs: tuple[str, ...], out_dir: Path, model_name: str, address: str | None, actors: int | None,
          tile: str, overlap: int, vapour: float | None, flips: int | None, overwrite: bool,
          encoding: Encoding) -> None:
    """Derain INPUTS on Ray: image files, folders, globs, .txt lists (one input per line) or URIs
    (file://, s3://, gs://...: anything pyarrow reads)."""
    try:
        from derain import batch as engine
    except ImportError:
        raise DerainError(INSTALL_HINT) from None
    from derain.inference import load_model, parse_tile

    derainer = load_model(model_name, tile=parse_tile(tile), overlap=overlap, vapour=vapour, flips=flips)
    sources, errors = engine.expand_sources(inputs)
    for line in errors:
        click.echo(f"derain: error: {line}", err=True)
    if not sources:
        raise DerainError("no input images to process")
    check_writable(out_dir)
    job = engine.plan(sources, out_dir, overwrite)
    remove_temporaries(job.outputs + job.skipped)  # left by a run that was killed outright
    failed, seconds = (_derain_on_ray(job, derainer, address, actors, overwrite, encoding) if job.sources
                       else (0, 0.0))
    done = len(job.sources) - failed
    skipped = f", {len(job.skipped)} skipped (outputs exist)" if job.skipped else ""
    click.echo(f"derained {done} of {len(sources)} images in {seconds:.1f} s{skipped}", err=True)
    if failed or errors:
        sys.exit(1)


def _derain_on_ray(job: Job, derainer: Derainer, address: str | None, actors: int | None, overwrite: bool,
                   encoding: Encoding) -> tuple[int, float]:
    """Connect, derain, disconnect: the number of failed images (each reported on one line) and
    the seconds the work took, Ray's start-up excluded as `derain remove` excludes loading."""
    import ray

    from derain import batch as engine

    engine.connect(address)
    start = time.perf_counter()
    failed = 0
    try:
        sizing = engine.size_actors([n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n["Alive"]], actors)
        click.echo(f"derain: {len(job.sources)} images, {sizing.actors} actors x {sizing.cpus:g} CPU "
                   f"({sizing.threads} torch threads each)", err=True)
        # as `derain remove` shows its batches; the count of failures, since their lines scroll away
        with tqdm(total=len(job.sources), unit="img", disable=len(job.sources) < 2, file=sys.stderr,
                  postfix="0 failed") as bar:
            for _, error in engine.run_anywhere(job, derainer, sizing, overwrite, encoding):
                if error:
                    failed += 1
                    bar.set_postfix_str(f"{failed} failed", refresh=False)  # shown as the bar is redrawn below the line
                    tqdm.write(f"derain: error: {error}", file=sys.stderr)
                bar.update()
    except ray.exceptions.RayError as exc:
        click.echo(f"derain: error: the Ray job failed: {str(exc).splitlines()[0]} (finished outputs are kept;"
                   " run again to resume)", err=True)
        sys.exit(1)
    finally:
        ray.shutdown()
        remove_temporaries(job.outputs)  # of the actors a stopped run took down in the middle of a write
    return failed, time.perf_counter() - start
