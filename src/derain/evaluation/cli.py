"""`derain eval`: score a model on a dataset and write the tables."""

from __future__ import annotations

from pathlib import Path

import click

from derain.atomic import check_writable, exists_error
from derain.cli import flips_option, vapour_option
from derain.errors import DerainError
from derain.paths import WORK_SIZE


def check_fresh(out: Path, images: Path | None) -> None:
    """Refuse, before any scoring, to replace an earlier report in `out` or side-by-side images in
    `images` (as `derain remove` refuses an existing output); a new or empty folder is always fine."""
    from derain.evaluation.harness import REPORT_FILES  # the harness imports torch: only when used

    for path in (out / name for name in REPORT_FILES):
        if path.exists():
            raise exists_error(path)
    if images is not None and images.is_dir() and any(images.iterdir()):
        raise DerainError(f"{images}: holds images already (use --overwrite to replace them)")


@click.command("eval")
@click.option("-m", "--model", "model_name", required=True,
              help="Shipped model, peer (e.g. prenet_rain100l), weight file, or 'input' to score the rainy input.")
@click.option("-d", "--dataset", required=True, help="Catalogue name (rain100l_test, udgnet43, ...) or a folder.")
@click.option("--data-root", help="Folder holding the shared data sets (default: DERAIN_DATA or ../shared/data).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write results.{md,csv,json}. Default: runs/eval/<model>-<dataset>.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N images (quick checks).")
@click.option("--save-images", is_flag=True, help="Also save side-by-side [rainy | derained | clean] images.")
@click.option("--fidelity", is_flag=True,
              help="Derain the rain-free images instead (a paired set's clean halves, or every image of a folder of "
                   "photos without rain) and score each output against its input: how much the model changes a "
                   "photo it should leave alone (Y-PSNR, higher is better; inf if unchanged).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--tile", default="auto", show_default=True, help="As for `derain remove`.")
@click.option("--work-size", default=WORK_SIZE, show_default=True, type=click.IntRange(min=0),
              help="As for `derain remove`.")
@vapour_option()
@flips_option()
@click.option("--overwrite", is_flag=True, help="Replace an earlier report (and images) in the output folder.")
def eval_cmd(model_name: str, dataset: str, data_root: str | None, out_dir: Path | None, limit: int | None,
             save_images: bool, fidelity: bool, device: str, tile: str, work_size: int, vapour: float | None,
             flips: int | None, overwrite: bool) -> None:
    """Evaluate MODEL on DATASET: Y-PSNR/SSIM and RGB-PSNR if paired, NIQE/BRISQUE if not; with
    --fidelity, the same full-reference metrics of its output against rain-free inputs."""
    from derain.evaluation.harness import evaluate
    from derain.inference import load_model, parse_tile

    tile_size = parse_tile(tile)
    label = Path(model_name).stem if model_name.endswith(".safetensors") else model_name
    label += ("" if vapour is None else f"-vapour{vapour:g}") + ("" if flips is None else f"-flips{flips}")
    out = out_dir or Path("runs") / "eval" / f"{label}-{Path(dataset).name}{'-fidelity' if fidelity else ''}"
    images = out / "images" if save_images else None
    if not overwrite:
        check_fresh(out, images)
    derainer = None if model_name == "input" else load_model(model_name, device=device, tile=tile_size,
                                                             work_size=work_size, vapour=vapour, flips=flips)
    check_writable(out)  # before scoring, not after
    report = evaluate(derainer, dataset, model_name=label, data_root=data_root, limit=limit,
                      save_images=images, fidelity=fidelity)
    report.write(out)
    mean = report.mean
    click.echo(" ".join(f"{k}={v:.4f}" for k, v in mean.items()) + f"  ({len(report.rows)} images; tables in {out})")
