"""`derain analyze`: compare the statistics of sets of rainy images and write a report."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
from tqdm import tqdm

from derain.errors import DerainError


@click.command("analyze")
@click.option("--set", "set_specs", multiple=True, required=True, metavar="NAME=DIR[:left|:right]",
              help="A set of images (repeatable). ':left' / ':right' keep that half of side-by-side pair files "
                   "(Rain800: DIR:right is the rainy half).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Report folder to create (report.md, CSVs, PNGs).")
@click.option("--reference", metavar="NAME", help="Rank every other set by its distance to this one.")
@click.option("--size", type=click.IntRange(32, 4096), default=256, show_default=True,
              help="Working scale: short side in px, and the side of the square crop.")
@click.option("--max-per-set", type=click.IntRange(1),
              help="Analyse at most this many images per set (seeded random subset).")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True,
              help="Cross-validation folds of the domain classifier.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of crops, subsets and folds.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
def analyze(set_specs: tuple[str, ...], out: Path, reference: str | None, size: int, max_per_set: int | None,
            folds: int, seed: int, overwrite: bool) -> None:
    """Compare sets of rainy images: per-image statistics, distances between sets, a report.

    Example: derain analyze --set rain800=DATA/rain800_train/concat:right --set real=DATA/real_rainy/sirr147
    --reference real --out report
    """
    from derain import __version__
    from derain.analysis.report import check_destination, write_report
    from derain.analysis.sets import parse_set, select_files
    from derain.analysis.study import compare_sets, measure_set
    from derain.paths import data_root

    image_sets = [parse_set(s) for s in set_specs]
    names = [s.name for s in image_sets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DerainError(f"--set: name(s) given more than once: {', '.join(duplicates)}")
    if reference is not None and reference not in names:
        raise DerainError(f"--reference {reference!r} is not one of the sets ({', '.join(names)})")
    check_destination(out, overwrite)
    files = [select_files(s, max_per_set, seed) for s in image_sets]  # an empty set fails before any work

    results = []
    for image_set, paths in zip(image_sets, files):
        with tqdm(total=len(paths), desc=image_set.name, unit="img", leave=False, disable=None) as bar:
            result = measure_set(image_set, paths, size, seed, bar.update)
        for file, why in sorted(image_set.skipped.items()):
            click.echo(f"derain: warning: {image_set.name}: skipped {file}: {why}", err=True)
        click.echo(f"{image_set.name}: {len(result.files)} of {result.listed} images analysed", err=True)
        results.append(result)
    study = compare_sets(results, size, seed, folds)

    try:
        root = str(data_root())
    except DerainError:
        root = "(none found)"
    provenance = {"command": "derain " + shlex.join(sys.argv[1:]), "derain version": __version__, "data root": root}
    click.echo(f"report: {write_report(study, out, provenance, reference, overwrite)}")
