"""`derain export onnx`: a model as an ONNX file for onnxruntime and other runtimes."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from derain.atomic import check_writable, exists_error
from derain.errors import DerainError
from derain.calibration import CALIBRATION_RAIN, CALIBRATION_SOURCES
from derain.paths import DEFAULT_MODEL


@click.group()
def export() -> None:
    """Export a model to another format."""


INT8_ONLY = ("calibration", "calibration_crops", "calibration_rain", "reduce_range")  # options of --int8


@export.command("onnx")
@click.option("-m", "--model", "model_name", default=DEFAULT_MODEL, show_default=True,
              help="Shipped model name, peer name (e.g. prenet_rain100l) or path to a .safetensors file.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .onnx file to write.")
@click.option("--int8", is_flag=True, help="Quantise to static int8: about 1.8x torch's speed on the CPU, "
                                           "calibrated on --calibration photos; it costs quality (measure it).")
@click.option("--calibration", multiple=True, default=CALIBRATION_SOURCES, show_default=True,
              help="With --int8: a folder of photos like those to derain, or a data set name; repeatable.")
@click.option("--calibration-crops", default=48, show_default=True, type=click.IntRange(min=1),
              help="With --int8: how many 256-px crops (one per photo) measure the activation ranges.")
@click.option("--calibration-rain", default=",".join(CALIBRATION_RAIN), show_default=True,
              help="With --int8: rain presets rendered on the crops in turn, so the ranges cover strong rain; "
                   "'none' calibrates on the photos as they are.")
@click.option("--reduce-range/--full-range", default=None,
              help="With --int8: 7-bit weights, for CPUs without VNNI, where 8-bit ones saturate (about 1 dB lost "
                   "there), or 8-bit ones, for CPUs with VNNI (AVX-512 VNNI, AVX-VNNI, AMX)  [default: by this CPU]")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.pass_context
def onnx_cmd(ctx: click.Context, model_name: str, output: Path, int8: bool, calibration: tuple[str, ...],
             calibration_crops: int, calibration_rain: str, reduce_range: bool | None, overwrite: bool) -> None:
    """Write the model with dynamic batch, height and width (multiples of its grid) and its metadata.

    Run it with `derain remove -m model.onnx` or any onnxruntime program.
    """
    given = ["/".join(param.opts + param.secondary_opts) for param in ctx.command.params
             if param.name in INT8_ONLY and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE]
    if given and not int8:
        raise DerainError(f"{', '.join(given)}: only with --int8 (an fp32 export has nothing to calibrate)")
    from derain.calibration import calibration_crops as draw_crops
    from derain.calibration import calibration_photos
    from derain.onnx_backend import OPSET, export_onnx, int8_saturates
    from derain.weights import load_model

    if output.exists() and not overwrite:
        raise exists_error(output)
    if not output.parent.is_dir():
        raise DerainError(f"{output.parent}: no such directory")
    check_writable(output.parent)  # before the model is loaded and exported, not after
    rain = _calibration_rain(calibration_rain)
    photos = calibration_photos(calibration) if int8 else []
    model, meta = load_model(model_name)
    crops = draw_crops(photos, calibration_crops, rain=rain) if int8 else None
    note = f" from {', '.join(calibration)}" + (f" with rendered rain {', '.join(rain)}" if rain else "")
    if int8 and reduce_range is None:  # resolved here (not in quantize_int8) to say it below
        reduce_range = int8_saturates()
    export_onnx(output, model, meta, overwrite=overwrite, calibration=crops, note=note, reduce_range=reduce_range)
    kind = f"int8, {7 if reduce_range else 8}-bit weights" if int8 else "fp32"
    click.echo(f"{model_name} -> {output} ({kind}, opset {OPSET}, {output.stat().st_size / 1e6:.2f} MB)", err=True)


def _calibration_rain(spec: str) -> tuple[str, ...]:
    """The preset names of --calibration-rain ('none': no rendered rain), each loaded once here so
    that a wrong name fails before any work."""
    from derain.synth import load_preset

    names = tuple(n for n in (part.strip() for part in spec.split(",")) if n not in ("", "none"))
    for name in names:
        load_preset(name)
    return names
